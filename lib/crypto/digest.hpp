#pragma once

#include <array>
#include <cstddef>
#include <span>

namespace hostcrypt::crypto {

using Sha256Digest = std::array<std::byte, 32>;

// SHA-256 of the concatenation of `parts`; throws CryptoError(library) only
// if OpenSSL fails.
Sha256Digest sha256(std::initializer_list<std::span<const std::byte>> parts);

}  // namespace hostcrypt::crypto
