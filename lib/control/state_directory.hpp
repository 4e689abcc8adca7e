#pragma once

// One state directory, opened and locked: its key providers, encryption sets
// and disk catalog. Exactly one process owns a state directory at a time —
// hostcryptd for as long as it runs, otherwise one `hostcrypt` command — so
// that a key file or header is never changed by two writers.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/directory_lock.hpp"
#include "disk/disk_catalog.hpp"
#include "disk/rotation.hpp"
#include "instance/instance_catalog.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_providers.hpp"

namespace hostcrypt::control {

class StateDirectory {
  public:
    // Creates the directory (private) if absent and locks it, waiting up to
    // `lock_wait` for another owner to let go. Throws hostcrypt::Error when
    // it stays locked.
    StateDirectory(std::filesystem::path path, std::string actor,
                   std::chrono::milliseconds lock_wait = std::chrono::milliseconds(0));

    const std::filesystem::path& path() const noexcept { return path_; }
    keys::KeyProviders& providers() noexcept { return providers_; }
    keys::SetStore& sets() noexcept { return sets_; }
    disk::DiskCatalog& catalog() noexcept { return catalog_; }
    instance::InstanceCatalog& instances() noexcept { return instances_; }

    // Where host cache files may be: <state>/cache and every directory a
    // daemon recorded (record_cache_directory) in <state>/cache-directories.
    std::vector<std::filesystem::path> cache_directories() const;
    // Remembers `directory` as holding host caches of this state's disks.
    void record_cache_directory(const std::filesystem::path& directory);
    // A rotation of this state's disks that keeps the key versions their
    // host caches still need.
    disk::Rotation rotation();

  private:
    std::filesystem::path path_;
    DirectoryLock lock_;
    keys::KeyProviders providers_;
    keys::SetStore sets_;
    disk::DiskCatalog catalog_;
    instance::InstanceCatalog instances_;
};

}  // namespace hostcrypt::control
