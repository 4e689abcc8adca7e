#include "disk/served_disk.hpp"

#include <fmt/format.h>

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

    storage::FileBackend::Options backend_options;
    backend_options.read_only = options.read_only;
    backend_options.direct_io = options.direct_io;
    backend_options.io_unit = header.sector_size;
    std::string direct_io_refused;
    auto backend = storage::FileBackend::open(entry.path, backend_options, &direct_io_refused);
    if (notice != nullptr && !direct_io_refused.empty()) {
        *notice = "O_DIRECT not used for " + entry.path.string() + ": " + direct_io_refused;
    }
    const Geometry geometry{header.size, header.sector_size, header.data_offset};
    std::string description =
        fmt::format("hostcrypt disk, {} encryption (set {}), {}-byte sectors",
                    keys::to_string(header.set_type), header.set_name, header.sector_size);
    auto served = std::make_shared<ServedDisk>(
        export_name.empty() ? entry.name : std::move(export_name), Tier::persisted, geometry,
        std::move(description), std::move(backend), std::move(keys), options.read_only);
    served->persisted_ =
        std::make_unique<PersistedSource>(entry, std::move(header), std::move(header_store));
    return served;
}

}  // namespace hostcrypt::disk
