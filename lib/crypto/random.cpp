#include "crypto/random.hpp"

#include <climits>

#include <openssl/rand.h>

#include "crypto/crypto_error.hpp"

namespace hostcrypt::crypto {

void fill_random(std::span<std::byte> out) {
    // RAND_bytes takes an int length; large requests are split.
    constexpr std::size_t max_chunk = INT_MAX;
    while (!out.empty()) {
        const std::size_t chunk = out.size() < max_chunk ? out.size() : max_chunk;
        if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(chunk)) !=
            1) {
            throw_openssl_error(CryptoErrc::system, "cannot draw random bytes");
        }
        out = out.subspan(chunk);
    }
}

}  // namespace hostcrypt::crypto
