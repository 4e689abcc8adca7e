#pragma once

// A disk as the daemon serves it, whatever its tier: its geometry, its store
// opened for the data path, its current keys, the lock that serializes
// partial-sector writes, and its counters. One object per export, shared by
// every connection on every reactor; everything but the key slot, the range
// lock and the counters is immutable after opening.
//
// A persisted disk also carries where it came from (PersistedSource): its
// catalog entry and the header it was opened with. Its geometry never
// changes, but its DEKs may have been re-wrapped on disk since (read the
// header again for key versions). A temp disk (temp_disk.hpp) has no header
// at all: its only key lives in memory.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "disk/disk_catalog.hpp"
#include "disk/disk_counters.hpp"
#include "disk/disk_header.hpp"
#include "disk/host_cache.hpp"
#include "disk/key_slot.hpp"
#include "disk/sector_range_lock.hpp"
#include "keys/key_providers.hpp"
#include "storage/ring_backend.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::disk {

// What to do with a persisted disk's host cache (disk/cache_opening.hpp).
struct CacheRequest {
    std::filesystem::path directory;  // where cache files live
    std::optional<CacheSpec> spec;    // none: served without a cache
    HostCache::Log log;               // the cache's own log lines (write-back)
};

struct ServeOptions {
    bool read_only = false;
    bool direct_io = false;
    std::optional<CacheRequest> cache;  // none: cache files are not looked at
};

enum class Tier { persisted, temp };
const char* to_string(Tier tier) noexcept;

struct Geometry {
    std::uint64_t size = 0;  // bytes the disk exposes
    std::uint32_t sector_size = 4096;
    std::uint64_t data_offset = 0;  // where sector 0 lives in the store
};

// Where a persisted disk being served came from.
class PersistedSource {
  public:
    PersistedSource(CatalogEntry entry, DiskHeader header,
                    std::unique_ptr<storage::Storage> header_store);

    const CatalogEntry& entry() const noexcept { return entry_; }
    // The header the disk was opened with.
    const DiskHeader& header() const noexcept { return header_; }
    // The header as it is on the backing store now (the key versions after
    // any re-wrap), read through the descriptor the disk was opened with, so
    // a renamed or replaced path cannot substitute another file. Throws
    // DiskError, also if the store holds another disk's header (uuid).
    DiskHeader read_current_header() const;

  private:
    CatalogEntry entry_;
    DiskHeader header_;
    std::unique_ptr<storage::Storage> header_store_;  // read-only, for headers
};

class ServedDisk {
  public:
    ServedDisk(std::string export_name, Tier tier, Geometry geometry, std::string description,
               std::unique_ptr<storage::RingBackend> backend, DiskKeys keys, bool read_only);

    // Reads the newest header, checks the backing store's size, unwraps the
    // keys and opens the store for the data path, to be offered as
    // `export_name` (the disk's own name when empty). Writes nothing. Throws
    // DiskError (or hostcrypt::Error for a store that cannot be opened)
    // naming the disk and the reason. `notice` receives remarks worth a log
    // line (O_DIRECT asked for but not possible, what became of the host
    // cache file), if any. With options.cache, the disk's host cache is
    // opened, created or discarded as disk/cache_opening.hpp says; a
    // read-only daemon serves no cache (and refuses a disk whose cache
    // holds dirty data).
    static std::shared_ptr<ServedDisk> open(const CatalogEntry& entry,
                                            keys::KeyProviders& providers,
                                            const ServeOptions& options, std::string* notice,
                                            std::string export_name = {});

    // The export name: the disk's name, or "<instance>/<disk>", "<instance>/temp".
    const std::string& name() const noexcept { return name_; }
    Tier tier() const noexcept { return tier_; }
    // One line for clients and logs: the tier, the encryption, the sectors.
    const std::string& description() const noexcept { return description_; }
    std::uint64_t size() const noexcept { return geometry_.size; }
    std::uint32_t sector_size() const noexcept { return geometry_.sector_size; }
    std::uint64_t data_offset() const noexcept { return geometry_.data_offset; }
    bool read_only() const noexcept { return read_only_; }

    const storage::RingBackend& backend() const noexcept { return *backend_; }
    // Null unless the tier is persisted.
    const PersistedSource* persisted() const noexcept { return persisted_.get(); }
    KeySlot& keys() noexcept { return keys_; }
    SectorRangeLock& partial_writes() noexcept { return partial_writes_; }
    // The host cache in front of a persisted disk, or null.
    HostCache* cache() noexcept { return cache_.get(); }
    DiskCounters& counters() noexcept { return counters_; }

  private:
    // Serves the disk through `opened`, its cache file at `path`.
    void attach_cache(const CatalogEntry& entry, const std::filesystem::path& path,
                      OpenedCache opened, const ServeOptions& options);

    std::string name_;
    Tier tier_;
    Geometry geometry_;
    std::string description_;
    std::unique_ptr<storage::RingBackend> backend_;
    std::unique_ptr<PersistedSource> persisted_;
    KeySlot keys_;
    std::unique_ptr<HostCache> cache_;  // uses keys_: declared after it
    SectorRangeLock partial_writes_;
    DiskCounters counters_;
    bool read_only_;
};

}  // namespace hostcrypt::disk
