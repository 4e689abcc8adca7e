#include "disk/served_disk.hpp"

#include <fmt/format.h>

#include "disk/cache_opening.hpp"
#include "disk/disk.hpp"
#include "disk/disk_error.hpp"
#include "disk/header_slots.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::disk {

const char* to_string(Tier tier) noexcept {
    return tier == Tier::temp ? "temp" : "persisted";
}

PersistedSource::PersistedSource(CatalogEntry entry, DiskHeader header,
                                 std::unique_ptr<storage::Storage> header_store)
    : entry_(std::move(entry)),
      header_(std::move(header)),
      header_store_(std::move(header_store)) {}

DiskHeader PersistedSource::read_current_header() const {
    DiskHeader current = read_newest_header(*header_store_, entry_.name);
    if (current.uuid != header_.uuid) {
        throw DiskError(DiskErrc::corrupt,
                        fmt::format("disk {}: the backing store now holds the header of disk {}, "
                                    "not of the disk being served ({})",
                                    entry_.name, current.uuid, header_.uuid));
    }
    return current;
}

ServedDisk::ServedDisk(std::string export_name, Tier tier, Geometry geometry,
                       std::string description, std::unique_ptr<storage::RingBackend> backend,
                       DiskKeys keys, bool read_only)
    : name_(std::move(export_name)),
      tier_(tier),
      geometry_(geometry),
      description_(std::move(description)),
      backend_(std::move(backend)),
      keys_(std::make_shared<const DiskKeys>(std::move(keys))),
      read_only_(read_only) {}

std::shared_ptr<ServedDisk> ServedDisk::open(const CatalogEntry& entry,
                                             keys::KeyProviders& providers,
                                             const ServeOptions& options, std::string* notice,
                                             std::string export_name) {
    auto header_store =
        storage::FileStorage::open(entry.path, storage::FileStorage::Mode::read_only);
    DiskHeader header = read_newest_header(*header_store, entry.name);
    if (!entry.uuid.empty() && header.uuid != entry.uuid) {
        throw DiskError(
            DiskErrc::corrupt,
            fmt::format("disk {}: {} holds the header of disk {}, not of this disk ({})",
                        entry.name, entry.path.string(), header.uuid, entry.uuid));
    }
    check_is_disk(header, entry.name);
    check_backing_size(header, *header_store, entry.name);
    DiskKeys keys = unwrap_disk_keys(header, providers, entry.name);
    const std::string name = export_name.empty() ? entry.name : std::move(export_name);
    const auto add_notice = [notice](const std::string& what, const std::string& remark) {
        if (notice != nullptr && !remark.empty()) {
            *notice += fmt::format("{}{}{}", notice->empty() ? "" : "; ", what, remark);
        }
    };

    storage::FileBackend::Options backend_options;
    backend_options.read_only = options.read_only;
    backend_options.direct_io = options.direct_io;
    backend_options.io_unit = header.sector_size;
    std::string direct_io_refused;
    auto backend = storage::FileBackend::open(entry.path, backend_options, &direct_io_refused);
    if (!direct_io_refused.empty()) {
        add_notice("O_DIRECT not used for " + entry.path.string() + ": ", direct_io_refused);
    }

    std::optional<OpenedCache> opened_cache;
    std::filesystem::path cache_path;
    if (options.cache) {
        cache_path = CacheFile::path_for(options.cache->directory, header.uuid);
        std::string remark;
        if (options.cache->spec && !options.read_only) {
            opened_cache.emplace(open_cache_for_serving(cache_path, header, *options.cache->spec,
                                                        providers, entry.name + " (host cache)",
                                                        remark));
        } else {
            discard_unwanted_cache(cache_path, header, entry.name, !options.read_only, remark);
        }
        add_notice("host cache: ", remark);
    }

    const Geometry geometry{header.size, header.sector_size, header.data_offset};
    std::string description = fmt::format(
        "hostcrypt disk, {} encryption (set {}), {}-byte sectors{}",
        keys::to_string(header.set_type), header.set_name, header.sector_size,
        opened_cache ? fmt::format(", {} host cache", to_string(opened_cache->header.cache->mode))
                     : "");
    if (opened_cache) {
        keys.cache_deks = std::move(opened_cache->keys.deks);
    }
    auto served =
        std::make_shared<ServedDisk>(name, Tier::persisted, geometry, std::move(description),
                                     std::move(backend), std::move(keys), options.read_only);
    served->persisted_ =
        std::make_unique<PersistedSource>(entry, std::move(header), std::move(header_store));
    if (opened_cache) {
        served->attach_cache(entry, cache_path, std::move(*opened_cache), options);
    }
    return served;
}

void ServedDisk::attach_cache(const CatalogEntry& entry, const std::filesystem::path& path,
                              OpenedCache opened, const ServeOptions& options) {
    // The cache file is marked in use now: if anything below fails, it is
    // closed cleanly again, so that its dirty data is not taken for a
    // crash's leftovers next time.
    try {
        storage::FileBackend::Options cache_options;
        cache_options.direct_io = options.direct_io;
        cache_options.io_unit = geometry_.sector_size;
        auto ring_backend = storage::FileBackend::open(path, cache_options);
        CacheDiskAccess disk{nullptr, geometry_.data_offset};
        if (opened.header.cache->mode == CacheMode::read_write) {
            // The write-back's own descriptor, checked to hold this disk.
            disk.store =
                storage::FileStorage::open(entry.path, storage::FileStorage::Mode::read_write);
            if (read_newest_header(*disk.store, entry.name).uuid != persisted_->header().uuid) {
                throw DiskError(DiskErrc::corrupt,
                                fmt::format("disk {}: {} changed while it was being opened",
                                            entry.name, entry.path.string()));
            }
        }
        cache_ = std::make_unique<HostCache>(entry.name, path, std::move(opened),
                                             std::move(ring_backend), std::move(disk), keys_,
                                             options.cache->log);
    } catch (...) {
        if (opened.storage) {
            CacheFile::close_clean(*opened.storage, opened.header, opened.index, entry.name);
        }
        throw;
    }
}

}  // namespace hostcrypt::disk
