#include "disk/served_disk.hpp"

#include <fmt/format.h>

#include "disk/disk.hpp"
#include "disk/disk_error.hpp"
#include "disk/header_slots.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::disk {

ServedDisk::ServedDisk(CatalogEntry entry, DiskHeader header,
                       std::unique_ptr<storage::RingBackend> backend, DiskKeys keys, bool read_only)
    : entry_(std::move(entry)),
      name_(entry_.name),
      header_(std::move(header)),
      backend_(std::move(backend)),
      keys_(std::make_shared<const DiskKeys>(std::move(keys))),
      read_only_(read_only) {}

std::shared_ptr<ServedDisk> ServedDisk::open(const CatalogEntry& entry,
                                             keys::KeyProviders& providers,
                                             const ServeOptions& options, std::string* notice) {
    auto header_store =
        storage::FileStorage::open(entry.path, storage::FileStorage::Mode::read_only);
    DiskHeader header = read_newest_header(*header_store, entry.name);
    if (!entry.uuid.empty() && header.uuid != entry.uuid) {
        throw DiskError(
            DiskErrc::corrupt,
            fmt::format("disk {}: {} holds the header of disk {}, not of this disk ({})",
                        entry.name, entry.path.string(), header.uuid, entry.uuid));
    }
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
    auto served = std::make_shared<ServedDisk>(entry, std::move(header), std::move(backend),
                                               std::move(keys), options.read_only);
    served->header_store_ = std::move(header_store);
    return served;
}

DiskHeader ServedDisk::read_current_header() const {
    if (!header_store_) {
        throw DiskError(DiskErrc::io, fmt::format("disk {}: opened without a header store", name_));
    }
    DiskHeader current = read_newest_header(*header_store_, name_);
    if (current.uuid != header_.uuid) {
        throw DiskError(DiskErrc::corrupt,
                        fmt::format("disk {}: the backing store now holds the header of disk {}, "
                                    "not of the disk being served ({})",
                                    name_, current.uuid, header_.uuid));
    }
    return current;
}

}  // namespace hostcrypt::disk
