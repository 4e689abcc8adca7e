#pragma once

// What serving a persisted disk does with its host cache file, by the
// disk's cache setting:
// - a cache wanted: the file is opened (disk/cache_file.hpp decides what of
//   it is trusted), or created if there is none, or made afresh if its
//   mode or size changed and it holds no dirty data; one that still holds
//   dirty data is kept as it is until that is written back. Its DEKs are
//   re-wrapped under the disk's key versions if rotation changed those.
// - no cache wanted: a leftover file is deleted — its clean data may be
//   older than the disk once the disk is written without it — unless it
//   holds dirty data, which must not be dropped: then the disk is refused.

#include <filesystem>
#include <optional>
#include <string>

#include "disk/cache_file.hpp"
#include "disk/disk_header.hpp"
#include "keys/key_providers.hpp"

namespace hostcrypt::disk {

// Opens (creating if needed) the cache of the disk with header `disk`
// named `name` at `path` by `spec`. `notice` receives remarks worth a log
// line. Throws DiskError or KeysError.
OpenedCache open_cache_for_serving(const std::filesystem::path& path, const DiskHeader& disk,
                                   const CacheSpec& spec, keys::KeyProviders& providers,
                                   const std::string& name, std::string& notice);

// Deletes the cache file at `path` of a disk served without a cache, if
// there is one and `remove` (a read-only daemon only looks). Throws
// DiskError(cache_dirty) if it holds dirty data.
void discard_unwanted_cache(const std::filesystem::path& path, const DiskHeader& disk,
                            const std::string& name, bool remove, std::string& notice);

}  // namespace hostcrypt::disk
