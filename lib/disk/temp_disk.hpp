#pragma once

// The temp disk of an allocated instance: a sparse file on host-local
// storage, encrypted (AES-256-XTS) with a DEK made when the disk is made and
// never written anywhere. The DEK is kept wrapped under the platform key —
// in memory only, for as long as the instance is allocated — and unwrapped
// in the served disk's key slot for the data path.
//
// Erasing (deallocation, daemon shutdown) drops the DEK and removes the file:
// a crypto-erase, since nothing else could ever decrypt what it held. The
// next allocation starts from a new file and a new key. The file has no
// header: there is nothing to read back without the key.
//
// Thread safety: the control thread owns a TempDisk; its served disk is shared
// with the data path like any other.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "disk/served_disk.hpp"
#include "keys/key_wrapper.hpp"

namespace hostcrypt::disk {

struct TempDiskSpec {
    std::uint64_t size = 0;
    std::uint32_t sector_size = 4096;
};

class TempDisk {
  public:
    // Removes whatever is at `path` (the ciphertext of an earlier life whose
    // key is gone), creates a sparse file of spec.size bytes there, makes a
    // fresh DEK and wraps it under the platform key's newest version. Throws
    // DiskError(invalid_argument) for a bad spec, hostcrypt::Error for the
    // file, KeysError for the platform key. `notice` receives a remark worth
    // a log line (O_DIRECT asked for but not possible), if any.
    static TempDisk create(const std::filesystem::path& path, std::string export_name,
                           const TempDiskSpec& spec, keys::KeyWrapper& platform,
                           const ServeOptions& options, std::string* notice = nullptr);

    TempDisk(TempDisk&&) noexcept = default;
    // No assignment: it would drop a live temp disk without erasing it.
    TempDisk& operator=(TempDisk&&) = delete;
    ~TempDisk();

    const std::shared_ptr<ServedDisk>& served() const noexcept { return served_; }
    const std::filesystem::path& path() const noexcept { return path_; }
    // The platform key version its DEK is wrapped under.
    const keys::KeyRef& wrapped_by() const noexcept { return wrapped_.kek; }
    // The DEK's public id (dek_id.hpp); empty once erased.
    const std::string& dek_id() const noexcept { return dek_id_; }

    // Wraps the DEK again under the platform key's newest version if it is
    // not wrapped under it (after a platform rotation), so no retired version
    // is needed for it. Throws KeysError; the old wrap stays in force then.
    void rewrap(keys::KeyWrapper& platform);

    // Drops the DEK from the served disk (every request on it fails from
    // now on) and from here, and removes the file. Idempotent; never throws.
    // Returns what could not be removed, or an empty string.
    std::string erase() noexcept;

  private:
    TempDisk(std::filesystem::path path, keys::WrappedKey wrapped,
             std::shared_ptr<ServedDisk> served, std::string id);

    std::filesystem::path path_;
    keys::WrappedKey wrapped_;
    std::shared_ptr<ServedDisk> served_;
    std::string dek_id_;
};

// Removes every temp disk file left in `directory` by an earlier daemon (a
// crash or kill leaves them: their keys died with it). Returns how many.
// Throws hostcrypt::Error if the directory cannot be read.
std::size_t discard_stale_temp_files(const std::filesystem::path& directory);

// Where an instance's temp disk lives in `directory`.
std::filesystem::path temp_file_path(const std::filesystem::path& directory,
                                     const std::string& instance);

}  // namespace hostcrypt::disk
