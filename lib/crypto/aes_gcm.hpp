#pragma once

// AES-256-GCM sealing of small secrets (wrapped DEKs, vault key material)
// bound to associated data: a sealed blob is nonce(12) || ciphertext || tag(16)
// with a fresh random nonce per seal. Random 96-bit nonces are safe for far
// more seals than a key hierarchy ever makes under one key (NIST SP 800-38D
// bounds it at 2^32).
//
// Thread safety: both functions are reentrant; each call owns its context.

#include <cstddef>
#include <span>
#include <vector>

#include "crypto/secure_bytes.hpp"

namespace hostcrypt::crypto {

inline constexpr std::size_t gcm_key_size = 32;
inline constexpr std::size_t gcm_nonce_size = 12;
inline constexpr std::size_t gcm_tag_size = 16;

// Throws CryptoError(invalid_key) for a key that is not 32 bytes.
std::vector<std::byte> aes_gcm_seal(std::span<const std::byte> key,
                                    std::span<const std::byte> plaintext,
                                    std::span<const std::byte> associated_data);

// Throws CryptoError(authentication_failed) for a wrong key, wrong associated
// data, or a blob that is truncated or altered.
SecureBytes aes_gcm_open(std::span<const std::byte> key, std::span<const std::byte> sealed,
                         std::span<const std::byte> associated_data);

}  // namespace hostcrypt::crypto
