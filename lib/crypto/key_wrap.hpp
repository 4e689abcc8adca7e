#pragma once

// AES key wrap with padding (RFC 5649, OpenSSL's id-aesNNN-wrap-pad): the
// deterministic, integrity-checked wrap used to store DEKs under a
// platform key-encryption key. The hierarchy always uses 32-byte KEKs; 16 and
// 24 bytes are accepted because RFC 5649's own vectors use AES-192.
//
// Thread safety: both functions are reentrant; each call owns its context.

#include <cstddef>
#include <span>
#include <vector>

#include "crypto/secure_bytes.hpp"

namespace hostcrypt::crypto {

// Throws CryptoError(invalid_key) for a KEK that is not 16, 24 or 32 bytes and
// CryptoError(invalid_argument) for an empty or oversized key to wrap.
std::vector<std::byte> aes_kwp_wrap(std::span<const std::byte> kek, std::span<const std::byte> key);

// Throws CryptoError(authentication_failed) if `wrapped` is malformed, was
// tampered with or was wrapped under another KEK; never returns unchecked bytes.
SecureBytes aes_kwp_unwrap(std::span<const std::byte> kek, std::span<const std::byte> wrapped);

}  // namespace hostcrypt::crypto
