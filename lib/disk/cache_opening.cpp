#include "disk/cache_opening.hpp"

#include <fmt/format.h>

#include "disk/disk_error.hpp"
#include "disk/header_slots.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::disk {

namespace fs = std::filesystem;

namespace {

void follow_disk_key_versions(OpenedCache& opened, const DiskHeader& disk,
                              keys::KeyProviders& providers, const std::string& name,
                              std::string& notice) {
    if (CacheFile::follow_disk_keys(*opened.storage, opened.header, disk, opened.keys.deks,
                                    providers, name)) {
        notice += fmt::format("{}keys re-wrapped to follow the disk's", notice.empty() ? "" : "; ");
    }
}

}  // namespace

OpenedCache open_cache_for_serving(const fs::path& path, const DiskHeader& disk,
                                   const CacheSpec& spec, keys::KeyProviders& providers,
                                   const std::string& name, std::string& notice) {
    if (fs::exists(path)) {
        OpenedCache opened = CacheFile::open(path, disk, providers, name);
        notice = opened.notice;
        const bool same = opened.header.size == spec.size && opened.header.cache->mode == spec.mode;
        if (same || opened.index.dirty_slots() > 0) {
            if (!same) {
                notice += fmt::format(
                    "{}keeps its mode ({}) and size ({} bytes) while it holds {} sectors not "
                    "written back; the new setting applies once it is empty (detach and "
                    "attach again)",
                    notice.empty() ? "" : "; ", to_string(opened.header.cache->mode),
                    opened.header.size, opened.index.dirty_slots());
            }
            follow_disk_key_versions(opened, disk, providers, name, notice);
            return opened;
        }
        opened.storage.reset();
        fs::remove(path);
        notice = "made afresh: its mode or size changed";
    }
    CacheFile::create(path, disk, spec, providers, name);
    OpenedCache opened = CacheFile::open(path, disk, providers, name);
    opened.notice.clear();  // a new cache starts empty: nothing to remark
    return opened;
}

void discard_unwanted_cache(const fs::path& path, const DiskHeader& disk, const std::string& name,
                            bool remove, std::string& notice) {
    if (!fs::exists(path)) {
        return;
    }
    {
        auto storage = storage::FileStorage::open(path, storage::FileStorage::Mode::read_only);
        const DiskHeader header = read_newest_header(*storage, name);
        if (header.cache && header.cache->disk_uuid == disk.uuid && header.cache->clean &&
            header.cache->dirty_sectors > 0) {
            throw DiskError(DiskErrc::cache_dirty,
                            fmt::format("disk {}: its host cache {} holds {} sectors not yet "
                                        "written to the disk; serve it with a read-write cache "
                                        "again (instance attach --cache read-write) to write "
                                        "them back",
                                        name, path.string(), header.cache->dirty_sectors));
        }
    }
    if (!remove) {
        return;
    }
    fs::remove(path);
    notice =
        fmt::format("host cache {} deleted: the disk is served without a cache now", path.string());
}

}  // namespace hostcrypt::disk
