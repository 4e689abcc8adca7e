#pragma once

// The unwrapped data keys of one disk, innermost layer first: an immutable
// snapshot that threads share for reading and build their cipher stacks from.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crypto/cipher_stack.hpp"
#include "crypto/secure_bytes.hpp"
#include "disk/disk_header.hpp"
#include "keys/key_health.hpp"
#include "keys/key_providers.hpp"

namespace hostcrypt::disk {

struct DiskKeys {
    std::uint32_t sector_size = 0;
    std::vector<crypto::SecureBytes> deks;  // innermost first
    // The DEKs of the disk's host cache (disk/host_cache.hpp), innermost
    // first; empty without one. In the same snapshot as the disk's own, so
    // that a revocation drops both at once.
    std::vector<crypto::SecureBytes> cache_deks;

    // A cipher stack for the calling thread.
    crypto::CipherStack make_cipher() const;
    // The same for the host cache. Throws CryptoError if there is none.
    crypto::CipherStack make_cache_cipher() const;
};

// A fresh random XTS key (512 bits) in locked memory.
crypto::SecureBytes fresh_dek();

// A cipher layer with a fresh DEK, wrapped by `key_name` of provider
// `provider` at `version` (the newest when none). Throws KeysError.
CipherLayer fresh_cipher_layer(keys::KeyProviders& providers, const std::string& provider,
                               const std::string& key_name, std::optional<std::uint32_t> version);

// Unwraps every layer's DEK. Throws DiskError(key_unavailable) naming the disk,
// the key and why it may not be used (disabled, expired, deleted, ...), or
// DiskError(unwrap_failed) if a DEK does not unwrap under its key.
DiskKeys unwrap_disk_keys(const DiskHeader& header, keys::KeyProviders& providers,
                          const std::string& disk);

// The health of each layer's key-encryption key, innermost first. Never
// throws for an unusable key: that is what it reports.
std::vector<keys::KeyHealth> disk_key_health(const DiskHeader& header,
                                             keys::KeyProviders& providers);

}  // namespace hostcrypt::disk
