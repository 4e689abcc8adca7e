#pragma once

// The file of a host cache (docs/format.md, "Host cache file"): its header,
// its own DEKs and its index. What this decides is when a cache may be
// trusted:
// - closed cleanly: its index (checked against the header's checksum) says
//   what each slot holds, dirty sectors included;
// - not closed cleanly (the daemon crashed or was killed): nothing in it is
//   trusted and it starts empty. Every write a client FLUSHed was on the
//   disk before the FLUSH was answered, so only unflushed writes are lost,
//   as after a power cut;
// - its index damaged: with no dirty sectors recorded it starts empty (a
//   log line, never served from); with dirty sectors recorded, that data
//   cannot be found, and opening fails rather than serve the disk without it;
// - its keys not usable (a revoked customer key): opening fails like the
//   disk's own, and is retried when the key is back, dirty data included.
//
// Opening for use marks the header not clean before anything is written, so
// a crash from then on is recognized.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "disk/cache_index.hpp"
#include "disk/disk_header.hpp"
#include "disk/disk_keys.hpp"
#include "keys/key_providers.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::disk {

struct CacheSpec {
    std::uint64_t size = 0;  // bytes of cached data; a multiple of the disk's sector size
    CacheMode mode = CacheMode::read_only;
    bool operator==(const CacheSpec&) const = default;
};

struct OpenedCache {
    DiskHeader header;  // as marked in use
    DiskKeys keys;      // the cache's own DEKs
    CacheIndex index;
    std::unique_ptr<storage::Storage> storage;
    std::string notice;  // why it starts empty, if it does (worth a log line)
};

class CacheFile {
  public:
    // Where the cache of disk `disk_uuid` lives in `directory`.
    static std::filesystem::path path_for(const std::filesystem::path& directory,
                                          const std::string& disk_uuid);

    // Creates the cache file of the disk with header `disk` at `path`
    // (refusing to replace a file): a fresh DEK per layer, each wrapped by
    // the same key version as the disk's layer. Throws DiskError or KeysError.
    static DiskHeader create(const std::filesystem::path& path, const DiskHeader& disk,
                             const CacheSpec& spec, keys::KeyProviders& providers,
                             const std::string& name);

    // Opens the cache of `disk` for use by the rules above. Throws
    // DiskError: not_found (no file), corrupt (another disk's cache, or
    // dirty data behind a damaged index), key_unavailable or unwrap_failed.
    static OpenedCache open(const std::filesystem::path& path, const DiskHeader& disk,
                            keys::KeyProviders& providers, const std::string& name);

    // Re-wraps the cache's DEKs (`deks`, innermost first) under the key
    // versions that wrap the layers of `disk` now, if they differ (rotation
    // re-wraps disks; their caches follow), and writes `header` so changed.
    // Returns whether anything changed. Throws DiskError or KeysError.
    static bool follow_disk_keys(storage::Storage& storage, DiskHeader& header,
                                 const DiskHeader& disk,
                                 const std::vector<crypto::SecureBytes>& deks,
                                 keys::KeyProviders& providers, const std::string& name);

    // Writes `index` and then marks the header clean, recording the index's
    // checksum and dirty count: the cache is found as it is now next time.
    static void close_clean(storage::Storage& storage, DiskHeader header, const CacheIndex& index,
                            const std::string& name);
};

}  // namespace hostcrypt::disk
