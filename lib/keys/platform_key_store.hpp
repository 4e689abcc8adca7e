#pragma once

// The platform key store: the platform-managed keys (PMK) of the model.
// Versioned AES-256 key-encryption keys that wrap DEKs with RFC 5649 key
// wrap, kept in a private directory:
//
//   <dir>/root.key    32 random bytes (0600) that seal every KEK version.
//                     Kept apart so it can come from elsewhere later (a
//                     systemd credential) without changing the KEK file.
//   <dir>/keks.json   [{version, created, sealed}], each KEK sealed with
//                     AES-256-GCM under the root key, bound to its version.
//
// The store is created on first use with version 1. A new version wraps new
// DEKs; old versions stay until prune() learns no DEK needs them.
//
// Thread safety: every method locks the store's mutex.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "common/utc_time.hpp"
#include "keys/key_vault.hpp"
#include "keys/key_wrapper.hpp"

namespace hostcrypt::keys {

class PlatformKeyStore final : public KeyWrapper {
  public:
    // Opens (creating if absent) the store in `directory`. Throws
    // KeysError(storage) if the directory or a file is unsafe or corrupt.
    static std::unique_ptr<PlatformKeyStore> open(const std::filesystem::path& directory,
                                                  ClockFunction clock = system_now);
    ~PlatformKeyStore() override;

    std::string provider_id() const override;
    WrappedKey wrap(const std::string& key_name, std::optional<std::uint32_t> version,
                    std::span<const std::byte> dek) override;
    crypto::SecureBytes unwrap(const KeyRef& kek, std::span<const std::byte> blob) override;
    KeyHealth health(const KeyRef& kek) override;
    std::uint32_t latest_version(const std::string& key_name) override;

    std::vector<KeyVersionInfo> versions();
    // Adds a new newest version and returns it.
    KeyVersionInfo rotate();
    // Rotates if the newest version is at least `max_age` old (automatic
    // rotation); returns the new version if it did.
    std::optional<KeyVersionInfo> rotate_if_older_than(std::chrono::seconds max_age);
    // Deletes every version that is neither the newest nor in `in_use`;
    // returns the versions deleted. Callers pass every version any DEK uses.
    std::vector<std::uint32_t> prune(const std::set<std::uint32_t>& in_use);

  private:
    struct State;
    explicit PlatformKeyStore(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
    std::mutex mutex_;
};

}  // namespace hostcrypt::keys
