#include "disk/cache_file.hpp"

#include <fmt/format.h>

#include "common/hex.hpp"
#include "crypto/digest.hpp"
#include "disk/disk.hpp"
#include "disk/disk_error.hpp"
#include "disk/header_slots.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::disk {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t alignment = 1 << 20;

std::uint64_t align_up(std::uint64_t value) {
    return (value + alignment - 1) / alignment * alignment;
}

std::string index_checksum(std::span<const std::byte> index) {
    return to_hex(crypto::sha256({index}));
}

std::vector<std::byte> read_index(storage::Storage& storage, const DiskHeader& header) {
    std::vector<std::byte> bytes(header.sector_count() * cache_index_entry_size);
    const std::size_t got = storage.read_at(bytes, header.cache->index_offset);
    bytes.resize(got);
    return bytes;
}

}  // namespace

fs::path CacheFile::path_for(const fs::path& directory, const std::string& disk_uuid) {
    return directory / (disk_uuid + ".cache");
}

DiskHeader CacheFile::create(const fs::path& path, const DiskHeader& disk, const CacheSpec& spec,
                             keys::KeyProviders& providers, const std::string& name) {
    check_geometry(spec.size, disk.sector_size, max_backing_size / 2, name);
    DiskHeader header;
    header.uuid = random_uuid();
    header.size = spec.size;
    header.sector_size = disk.sector_size;
    const std::uint64_t index_offset = 2 * header_slot_size;
    header.data_offset = align_up(index_offset + header.sector_count() * cache_index_entry_size);
    header.set_name = disk.set_name;
    header.set_type = disk.set_type;
    header.created = system_now();
    header.cache = CacheMetadata{disk.uuid, spec.mode, index_offset, true, "", 0};
    for (const CipherLayer& layer : disk.layers) {
        header.layers.push_back(
            fresh_cipher_layer(providers, layer.kek.provider, layer.kek.name, layer.kek.version));
    }
    encode_header_slot(header, name);  // validate before touching the file system
    if (fs::exists(path)) {
        throw DiskError(DiskErrc::already_exists,
                        fmt::format("cache {}: {} already exists", name, path.string()));
    }
    auto storage = storage::FileStorage::create(path, header.backing_size());
    try {
        // An empty index, so that a clean cache reads back as empty.
        close_clean(*storage, header, CacheIndex(header.sector_count()), name);
        return read_newest_header(*storage, name);
    } catch (...) {
        fs::remove(path);
        throw;
    }
}

OpenedCache CacheFile::open(const fs::path& path, const DiskHeader& disk,
                            keys::KeyProviders& providers, const std::string& name) {
    if (!fs::exists(path)) {
        throw DiskError(DiskErrc::not_found,
                        fmt::format("cache {}: {} does not exist", name, path.string()));
    }
    auto storage = storage::FileStorage::open(path, storage::FileStorage::Mode::read_write);
    DiskHeader header = read_newest_header(*storage, name);
    if (!header.cache || header.cache->disk_uuid != disk.uuid ||
        header.sector_size != disk.sector_size) {
        throw DiskError(DiskErrc::corrupt, fmt::format("cache {}: {} is not a cache of disk {}",
                                                       name, path.string(), disk.uuid));
    }
    check_backing_size(header, *storage, name);
    const std::uint64_t dirty = header.cache->dirty_sectors;
    // The keys first: a cache whose key is revoked is not opened at all,
    // so that its dirty data waits for the key instead of being dropped.
    DiskKeys keys = unwrap_disk_keys(header, providers, name);

    std::string notice;
    std::optional<CacheIndex> index;
    if (!header.cache->clean) {
        notice =
            "not closed cleanly (the daemon stopped without closing it): starts empty; "
            "writes FLUSHed before were on the disk already";
    } else {
        const std::vector<std::byte> bytes = read_index(*storage, header);
        try {
            if (index_checksum(bytes) != header.cache->index_sha256) {
                throw DiskError(DiskErrc::corrupt,
                                fmt::format("cache {}: index checksum does not match", name));
            }
            index =
                CacheIndex::deserialize(bytes, header.sector_count(), disk.sector_count(), name);
            if (index->dirty_slots() != dirty) {
                throw DiskError(DiskErrc::corrupt,
                                fmt::format("cache {}: index has {} dirty sectors, the header "
                                            "{}",
                                            name, index->dirty_slots(), dirty));
            }
        } catch (const DiskError& error) {
            if (dirty > 0) {
                throw DiskError(DiskErrc::corrupt,
                                fmt::format("{}; it holds {} sectors not yet written to the "
                                            "disk, which cannot be found without it",
                                            error.what(), dirty));
            }
            index.reset();
            notice = fmt::format("{}: discarded, starts empty (it held no unwritten data)",
                                 error.what());
        }
    }
    if (!index) {
        index.emplace(header.sector_count());
    }
    // In use from now on: a crash before the next clean close is recognized.
    header.cache->clean = false;
    header = write_header(*storage, header, name);
    return OpenedCache{std::move(header), std::move(keys), std::move(*index), std::move(storage),
                       std::move(notice)};
}

bool CacheFile::follow_disk_keys(storage::Storage& storage, DiskHeader& header,
                                 const DiskHeader& disk,
                                 const std::vector<crypto::SecureBytes>& deks,
                                 keys::KeyProviders& providers, const std::string& name) {
    DiskHeader changed = header;
    bool any = false;
    for (std::size_t i = 0; i < changed.layers.size(); ++i) {
        CipherLayer& layer = changed.layers[i];
        const keys::KeyRef& wanted = disk.layers.at(i).kek;
        if (layer.kek == wanted) {
            continue;
        }
        keys::WrappedKey wrapped = providers.provider(wanted.provider)
                                       .wrap(wanted.name, wanted.version, deks.at(i).bytes());
        layer.kek = wrapped.kek;
        layer.wrapped_dek = std::move(wrapped.blob);
        any = true;
    }
    if (any) {
        header = write_header(storage, changed, name);
    }
    return any;
}

void CacheFile::close_clean(storage::Storage& storage, DiskHeader header, const CacheIndex& index,
                            const std::string& name) {
    const std::vector<std::byte> bytes = index.serialize();
    storage.write_at(bytes, header.cache->index_offset);
    storage.sync();  // the index is durable before the header points at it
    header.cache->clean = true;
    header.cache->index_sha256 = index_checksum(bytes);
    header.cache->dirty_sectors = index.dirty_slots();
    write_header(storage, header, name);
}

}  // namespace hostcrypt::disk
