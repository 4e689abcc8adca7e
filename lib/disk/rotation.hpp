#pragma once

// Rotation re-wraps DEKs under newer key-encryption key versions: a header
// update per disk (crash-atomic by the two-slot protocol), data untouched.
// Every step is idempotent — a disk already on its target versions is left
// alone — so an interrupted rotation is resumed by running it again.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "disk/disk_catalog.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_providers.hpp"
#include "keys/key_ref.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::disk {

struct RewrapOutcome {
    std::string disk;
    bool changed = false;
    std::vector<keys::KeyRef> before;  // per layer, innermost first
    std::vector<keys::KeyRef> after;
    std::string error;  // non-empty if this disk could not be re-wrapped
};

// Re-wraps every layer of one disk whose key-encryption key is not the
// version `set` asks for now (its pinned version, or the newest).
RewrapOutcome rewrap_disk(storage::Storage& storage, const std::string& disk,
                          const keys::EncryptionSet& set, keys::KeyProviders& providers);

// Opens a disk's backing store for writing; tests substitute one that fails.
using StorageOpener =
    std::function<std::unique_ptr<storage::Storage>(const std::filesystem::path&)>;
std::unique_ptr<storage::Storage> open_backing_for_update(const std::filesystem::path& path);

// What rotate_platform_key did.
struct PlatformRotation {
    std::optional<keys::KeyVersionInfo> added;  // the new version, if it rotated
    keys::KeyVersionInfo newest;
    std::vector<RewrapOutcome> rewrapped;
    std::vector<std::uint32_t> removed;  // versions pruned
    // Every platform layer is on the newest version.
    bool complete() const noexcept;
};

class Rotation {
  public:
    Rotation(DiskCatalog& catalog, keys::SetStore& sets, keys::KeyProviders& providers,
             StorageOpener opener = open_backing_for_update)
        : catalog_(catalog), sets_(sets), providers_(providers), opener_(std::move(opener)) {}

    // Every disk of one set.
    std::vector<RewrapOutcome> rewrap_set(const std::string& set_name);
    // Every disk with a platform layer (sets of type platform and double).
    std::vector<RewrapOutcome> rewrap_platform_layers();
    // Every disk of the sets that follow the newest version of this vault key.
    std::vector<RewrapOutcome> rewrap_following(const std::string& vault,
                                                const std::string& key_name);
    // Rotates the platform key (always, or with `max_age` only once its
    // newest version is that old), re-wraps every platform layer, and prunes
    // the versions no disk needs once every disk is re-wrapped. Re-wraps and
    // prunes even when it did not rotate, so running it again finishes a
    // rotation an earlier run left incomplete.
    PlatformRotation rotate_platform_key(std::optional<std::chrono::seconds> max_age);
    // Host cache files in these directories (`<uuid>.cache`) keep the
    // platform key versions their headers name from being pruned, like
    // disks: a cache follows its disk's key versions only when the daemon
    // that serves it re-wraps it, after the disk's rotation.
    void keep_versions_of_caches_in(std::vector<std::filesystem::path> directories) {
        cache_directories_ = std::move(directories);
    }
    // The platform key versions some disk's or cache's header still names
    // (every version if a cache's header cannot be read).
    std::set<std::uint32_t> platform_versions_in_use();

  private:
    std::vector<RewrapOutcome> rewrap_where(
        const std::function<bool(const keys::EncryptionSet&)>& selected);

    DiskCatalog& catalog_;
    keys::SetStore& sets_;
    keys::KeyProviders& providers_;
    StorageOpener opener_;
    std::vector<std::filesystem::path> cache_directories_;
};

}  // namespace hostcrypt::disk
