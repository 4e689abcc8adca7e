#pragma once

// A KeyWrapper holds key-encryption keys and wraps data encryption keys with
// them without ever revealing a KEK: the platform key store and every key
// vault provider are KeyWrappers. Disks only ever talk to this interface.
//
// Thread safety: implementations serialize their own state; every method may
// be called from any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/secure_bytes.hpp"
#include "keys/key_health.hpp"
#include "keys/key_ref.hpp"

namespace hostcrypt::keys {

struct WrappedKey {
    KeyRef kek;                   // the exact version that wrapped it
    std::vector<std::byte> blob;  // opaque to everyone but the provider
};

class KeyWrapper {
  public:
    virtual ~KeyWrapper() = default;

    virtual std::string provider_id() const = 0;

    // Wraps `dek` under `key_name` at `version`, or at its newest version when
    // none is given. Throws KeysError(not_found) or KeysError(key_unusable).
    virtual WrappedKey wrap(const std::string& key_name, std::optional<std::uint32_t> version,
                            std::span<const std::byte> dek) = 0;

    // Throws KeysError(key_unusable) with the key's state if the KEK may not be
    // used, KeysError(not_found), or KeysError(unwrap_failed) for a blob that
    // was not wrapped by that KEK version (or was altered).
    virtual crypto::SecureBytes unwrap(const KeyRef& kek, std::span<const std::byte> blob) = 0;

    // Never throws for a missing or unusable key: that is what it reports.
    virtual KeyHealth health(const KeyRef& kek) = 0;

    // The newest version of `key_name`; throws KeysError(not_found).
    virtual std::uint32_t latest_version(const std::string& key_name) = 0;
};

}  // namespace hostcrypt::keys
