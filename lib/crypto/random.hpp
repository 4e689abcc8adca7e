#pragma once

#include <cstddef>
#include <span>

namespace hostcrypt::crypto {

// Fills `out` from OpenSSL's DRBG, which is seeded from the kernel's CSPRNG
// (getrandom). Throws CryptoError(system) if it cannot be seeded; never
// returns predictable bytes.
void fill_random(std::span<std::byte> out);

}  // namespace hostcrypt::crypto
