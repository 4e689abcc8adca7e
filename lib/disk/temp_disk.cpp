#include "disk/temp_disk.hpp"

#include <system_error>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "disk/dek_id.hpp"
#include "disk/disk.hpp"
#include "disk/disk_keys.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::disk {

namespace fs = std::filesystem;

namespace {

constexpr const char* temp_extension = ".temp";

// A temp disk file's largest size: a file offset.
constexpr std::uint64_t max_temp_size = max_backing_size;

}  // namespace

fs::path temp_file_path(const fs::path& directory, const std::string& instance) {
    return directory / (instance + temp_extension);
}

TempDisk::TempDisk(fs::path path, keys::WrappedKey wrapped, std::shared_ptr<ServedDisk> served,
                   std::string id)
    : path_(std::move(path)),
      wrapped_(std::move(wrapped)),
      served_(std::move(served)),
      dek_id_(std::move(id)) {}

TempDisk::~TempDisk() {
    erase();
}

TempDisk TempDisk::create(const fs::path& path, std::string export_name, const TempDiskSpec& spec,
                          keys::KeyWrapper& platform, const ServeOptions& options,
                          std::string* notice) {
    check_geometry(spec.size, spec.sector_size, max_temp_size, export_name);
    crypto::SecureBytes dek = fresh_dek();
    keys::WrappedKey wrapped = platform.wrap(keys::platform_key_name, std::nullopt, dek.bytes());
    std::string id = disk::dek_id(dek);

    // Whatever is there was encrypted under a key that died with its
    // instance or its daemon: gone already, now also out of the way.
    std::error_code ignored;
    fs::remove(path, ignored);
    storage::FileStorage::create(path, spec.size);
    try {
        storage::FileBackend::Options backend_options;
        backend_options.read_only = options.read_only;
        backend_options.direct_io = options.direct_io;
        backend_options.io_unit = spec.sector_size;
        std::string direct_io_refused;
        auto backend = storage::FileBackend::open(path, backend_options, &direct_io_refused);
        if (notice != nullptr && !direct_io_refused.empty()) {
            *notice = "O_DIRECT not used for " + path.string() + ": " + direct_io_refused;
        }
        const Geometry geometry{spec.size, spec.sector_size, 0};
        std::string description = fmt::format(
            "hostcrypt temp disk, platform key, erased at deallocation, {}-byte sectors",
            spec.sector_size);
        DiskKeys keys{spec.sector_size, {}, {}};
        keys.deks.push_back(std::move(dek));
        auto served = std::make_shared<ServedDisk>(std::move(export_name), Tier::temp, geometry,
                                                   std::move(description), std::move(backend),
                                                   std::move(keys), options.read_only);
        return TempDisk(path, std::move(wrapped), std::move(served), std::move(id));
    } catch (...) {
        fs::remove(path, ignored);
        throw;
    }
}

void TempDisk::rewrap(keys::KeyWrapper& platform) {
    if (!served_) {
        return;
    }
    const KeySlot::Snapshot snapshot = served_->keys().snapshot();
    if (!snapshot.keys ||
        platform.latest_version(keys::platform_key_name) == wrapped_.kek.version) {
        return;  // erased, or wrapped under the newest version already
    }
    wrapped_ =
        platform.wrap(keys::platform_key_name, std::nullopt, snapshot.keys->deks.front().bytes());
}

std::string TempDisk::erase() noexcept {
    if (!served_) {
        return {};
    }
    served_->keys().revoke("the temp disk was erased (its instance was deallocated)");
    served_.reset();
    wrapped_.blob.clear();
    dek_id_.clear();
    std::error_code error;
    fs::remove(path_, error);
    if (error) {
        return fmt::format("cannot remove {}: {}", path_.string(), error.message());
    }
    return {};
}

std::size_t discard_stale_temp_files(const fs::path& directory) {
    const std::vector<std::string> stale = file_stems(directory, temp_extension);
    for (const std::string& instance : stale) {
        fs::remove(temp_file_path(directory, instance));
    }
    return stale.size();
}

}  // namespace hostcrypt::disk
