#pragma once

// A persisted disk opened for offline use: its header, its unwrapped keys and
// synchronous sector I/O on its backing store. (The daemon's data path uses
// the same header, keys and sector codec through io_uring.)

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "crypto/cipher_stack.hpp"
#include "disk/disk_header.hpp"
#include "disk/disk_keys.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_providers.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::disk {

struct CreateDiskOptions {
    std::uint64_t size = 0;
    std::uint32_t sector_size = 4096;
    // Write every sector (encrypted zeros) instead of leaving a sparse file.
    bool preallocate = false;
    // Called while preallocating with bytes done and total.
    std::function<void(std::uint64_t, std::uint64_t)> progress;
};

class Disk {
  public:
    // Creates the backing file at `path` (refusing to replace one), with a
    // fresh DEK per layer wrapped as `set` says. On any failure the new file
    // is removed. Throws DiskError or KeysError.
    static DiskHeader create(const std::filesystem::path& path, const std::string& name,
                             const CreateDiskOptions& options, const keys::EncryptionSet& set,
                             keys::KeyProviders& providers);

    // Reads the newest header, checks the backing store is large enough and
    // unwraps the keys. Writes nothing. Throws DiskError.
    static Disk open(std::unique_ptr<storage::Storage> storage, const std::string& name,
                     keys::KeyProviders& providers);

    const std::string& name() const noexcept { return name_; }
    const DiskHeader& header() const noexcept { return header_; }
    const DiskKeys& keys() const noexcept { return keys_; }
    storage::Storage& storage() noexcept { return *storage_; }

    // Whole sectors only; DiskError(invalid_argument) for unaligned or
    // out-of-range requests.
    void read(std::uint64_t offset, std::span<std::byte> data);
    void write(std::uint64_t offset, std::span<const std::byte> data);
    void flush();

  private:
    Disk(std::unique_ptr<storage::Storage> storage, std::string name, DiskHeader header,
         DiskKeys keys);
    void check_range(std::uint64_t offset, std::size_t length) const;

    std::unique_ptr<storage::Storage> storage_;
    std::string name_;
    DiskHeader header_;
    DiskKeys keys_;
    crypto::CipherStack cipher_;
};

// Throws DiskError(invalid_argument) naming `name` unless `sector_size` is
// supported and `size` is a positive multiple of it, at most `max_size`.
void check_geometry(std::uint64_t size, std::uint32_t sector_size, std::uint64_t max_size,
                    const std::string& name);

// Throws DiskError(not_hostcrypt) if `header` is a host cache file's, which
// looks like a disk's but must never be served or opened as one.
void check_is_disk(const DiskHeader& header, const std::string& disk);

// Throws DiskError(size_mismatch) if `storage` cannot hold `header`'s disk.
void check_backing_size(const DiskHeader& header, storage::Storage& storage,
                        const std::string& disk);

}  // namespace hostcrypt::disk
