#pragma once

// What a LocalVault key version is: AES-256 key bytes, or an RSA private key
// in DER; and how each type wraps and unwraps a DEK (RFC 5649 key wrap, or
// RSA-OAEP-SHA256). The material stays in locked memory throughout.

#include <cstddef>
#include <span>
#include <vector>

#include "crypto/secure_bytes.hpp"
#include "keys/key_vault.hpp"

namespace hostcrypt::keys {

crypto::SecureBytes generate_material(KeyType type);
std::vector<std::byte> wrap_with(KeyType type, const crypto::SecureBytes& material,
                                 std::span<const std::byte> dek);
crypto::SecureBytes unwrap_with(KeyType type, const crypto::SecureBytes& material,
                                std::span<const std::byte> blob);

}  // namespace hostcrypt::keys
