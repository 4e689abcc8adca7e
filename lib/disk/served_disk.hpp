#pragma once

// A persisted disk as the daemon serves it: its header (geometry), its
// backing store opened for the data path, its current keys, the lock that
// serializes partial-sector writes, and its counters. One object per disk,
// shared by every connection on every reactor; everything but the key slot,
// the range lock and the counters is immutable after opening. The header is
// the one it was opened with: its geometry never changes, but its DEKs may
// have been re-wrapped on disk since (read the header again for key versions).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "disk/disk_catalog.hpp"
#include "disk/disk_counters.hpp"
#include "disk/disk_header.hpp"
#include "disk/key_slot.hpp"
#include "disk/sector_range_lock.hpp"
#include "keys/key_providers.hpp"
#include "storage/ring_backend.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::disk {

struct ServeOptions {
    bool read_only = false;
    bool direct_io = false;
};

class ServedDisk {
  public:
    ServedDisk(CatalogEntry entry, DiskHeader header, std::unique_ptr<storage::RingBackend> backend,
               DiskKeys keys, bool read_only);

    // Reads the newest header, checks the backing store's size, unwraps the
    // keys and opens the store for the data path. Writes nothing. Throws
    // DiskError (or hostcrypt::Error for a store that cannot be opened)
    // naming the disk and the reason. `notice` receives a remark worth a log
    // line (O_DIRECT asked for but not possible), if any.
    static std::shared_ptr<ServedDisk> open(const CatalogEntry& entry,
                                            keys::KeyProviders& providers,
                                            const ServeOptions& options, std::string* notice);

    const std::string& name() const noexcept { return name_; }
    const DiskHeader& header() const noexcept { return header_; }
    std::uint64_t size() const noexcept { return header_.size; }
    std::uint32_t sector_size() const noexcept { return header_.sector_size; }
    // Where sector 0 lives in the backing store.
    std::uint64_t data_offset() const noexcept { return header_.data_offset; }
    bool read_only() const noexcept { return read_only_; }

    const storage::RingBackend& backend() const noexcept { return *backend_; }
    // The header as it is on the backing store now (the key versions after
    // any re-wrap), read through the descriptor the disk was opened with, so
    // a renamed or replaced path cannot substitute another file. Throws
    // DiskError, also if the store holds another disk's header (uuid).
    DiskHeader read_current_header() const;
    KeySlot& keys() noexcept { return keys_; }
    SectorRangeLock& partial_writes() noexcept { return partial_writes_; }
    DiskCounters& counters() noexcept { return counters_; }
    const CatalogEntry& entry() const noexcept { return entry_; }

  private:
    CatalogEntry entry_;
    std::string name_;
    DiskHeader header_;
    std::unique_ptr<storage::RingBackend> backend_;
    std::unique_ptr<storage::Storage> header_store_;  // read-only, for headers
    KeySlot keys_;
    SectorRangeLock partial_writes_;
    DiskCounters counters_;
    bool read_only_;
};

}  // namespace hostcrypt::disk
