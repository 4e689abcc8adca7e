#include "disk/disk.hpp"

#include <fmt/format.h>

#include "crypto/sector_cipher.hpp"
#include "disk/disk_error.hpp"
#include "disk/header_slots.hpp"
#include "disk/sector_codec.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::disk {

namespace fs = std::filesystem;

namespace {

void preallocate(Disk& disk, const CreateDiskOptions& options) {
    constexpr std::size_t chunk = 1 << 20;
    const std::vector<std::byte> zeros(chunk);
    const std::uint64_t total = disk.header().size;
    for (std::uint64_t done = 0; done < total;) {
        const std::size_t length =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - done));
        disk.write(done, std::span(zeros).first(length));
        done += length;
        if (options.progress) {
            options.progress(done, total);
        }
    }
}

}  // namespace

void check_geometry(std::uint64_t size, std::uint32_t sector_size, std::uint64_t max_size,
                    const std::string& name) {
    if (!crypto::is_supported_sector_size(sector_size)) {
        throw DiskError(DiskErrc::invalid_argument,
                        fmt::format("disk {}: sector size {} is not supported (use 512 or 4096)",
                                    name, sector_size));
    }
    if (size == 0 || size % sector_size != 0 || size > max_size) {
        throw DiskError(DiskErrc::invalid_argument,
                        fmt::format("disk {}: size {} must be a positive multiple of the {}-byte "
                                    "sector size, at most {} bytes",
                                    name, size, sector_size, max_size));
    }
}

void check_is_disk(const DiskHeader& header, const std::string& disk) {
    if (header.cache) {
        throw DiskError(DiskErrc::not_hostcrypt,
                        fmt::format("disk {}: its backing store is a host cache file (of disk "
                                    "{}), not a disk",
                                    disk, header.cache->disk_uuid));
    }
}

void check_backing_size(const DiskHeader& header, storage::Storage& storage,
                        const std::string& disk) {
    const std::uint64_t available = storage.size();
    if (available < header.backing_size()) {
        throw DiskError(
            DiskErrc::size_mismatch,
            fmt::format("disk {}: backing store {} is {} bytes, but the header "
                        "describes a {}-byte disk needing {} bytes",
                        disk, storage.name(), available, header.size, header.backing_size()));
    }
}

DiskHeader Disk::create(const fs::path& path, const std::string& name,
                        const CreateDiskOptions& options, const keys::EncryptionSet& set,
                        keys::KeyProviders& providers) {
    check_geometry(options.size, options.sector_size, max_backing_size - default_data_offset, name);
    DiskHeader header;
    header.uuid = random_uuid();
    header.size = options.size;
    header.sector_size = options.sector_size;
    header.set_name = set.name;
    header.set_type = set.type;
    header.created = system_now();
    for (const keys::LayerKeySpec& spec : keys::layer_key_specs(set)) {
        header.layers.push_back(
            fresh_cipher_layer(providers, spec.provider, spec.key_name, spec.version));
    }
    encode_header_slot(header, name);  // validate before touching the file system

    if (fs::exists(path)) {
        throw DiskError(DiskErrc::already_exists,
                        fmt::format("disk {}: {} already exists; refusing to overwrite it", name,
                                    path.string()));
    }
    std::unique_ptr<storage::FileStorage> storage;
    try {
        storage = storage::FileStorage::create(path, header.backing_size());
    } catch (const Error& error) {
        // e.g. a size the file system cannot hold (EFBIG), or no space
        throw DiskError(DiskErrc::io, fmt::format("disk {}: {}", name, error.what()));
    }
    try {
        header = write_header(*storage, header, name);
        if (options.preallocate) {
            Disk disk = open(std::move(storage), name, providers);
            preallocate(disk, options);
            disk.flush();
        }
    } catch (...) {
        fs::remove(path);
        throw;
    }
    return header;
}

Disk Disk::open(std::unique_ptr<storage::Storage> storage, const std::string& name,
                keys::KeyProviders& providers) {
    DiskHeader header = read_newest_header(*storage, name);
    check_is_disk(header, name);
    check_backing_size(header, *storage, name);
    DiskKeys keys = unwrap_disk_keys(header, providers, name);
    return Disk(std::move(storage), name, std::move(header), std::move(keys));
}

Disk::Disk(std::unique_ptr<storage::Storage> storage, std::string name, DiskHeader header,
           DiskKeys keys)
    : storage_(std::move(storage)),
      name_(std::move(name)),
      header_(std::move(header)),
      keys_(std::move(keys)),
      cipher_(keys_.make_cipher()) {}

void Disk::check_range(std::uint64_t offset, std::size_t length) const {
    if (offset % header_.sector_size != 0 || length % header_.sector_size != 0) {
        throw DiskError(DiskErrc::invalid_argument,
                        fmt::format("disk {}: I/O at {} of {} bytes is not aligned to its {}-byte "
                                    "sectors",
                                    name_, offset, length, header_.sector_size));
    }
    if (offset > header_.size || length > header_.size - offset) {
        throw DiskError(DiskErrc::invalid_argument,
                        fmt::format("disk {}: I/O at {} of {} bytes is past its end ({} bytes)",
                                    name_, offset, length, header_.size));
    }
}

void Disk::read(std::uint64_t offset, std::span<std::byte> data) {
    check_range(offset, data.size());
    const std::size_t got = storage_->read_at(data, header_.data_offset + offset);
    if (got != data.size()) {
        throw DiskError(DiskErrc::io, fmt::format("disk {}: short read from {} at {}", name_,
                                                  storage_->name(), header_.data_offset + offset));
    }
    decrypt_sectors(cipher_, data, offset / header_.sector_size);
}

void Disk::write(std::uint64_t offset, std::span<const std::byte> data) {
    check_range(offset, data.size());
    std::vector<std::byte> ciphertext(data.begin(), data.end());
    encrypt_sectors(cipher_, ciphertext, offset / header_.sector_size);
    storage_->write_at(ciphertext, header_.data_offset + offset);
}

void Disk::flush() {
    storage_->sync();
}

}  // namespace hostcrypt::disk
