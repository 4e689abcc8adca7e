#pragma once

// Helpers shared by the crypto tests: inputs, and the code of a thrown CryptoError.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "crypto/crypto_error.hpp"
#include "crypto/random.hpp"
#include "crypto/secure_bytes.hpp"
#include "support/thrown.hpp"

namespace hostcrypt::crypto::test {

inline std::vector<std::byte> random_bytes(std::size_t size) {
    std::vector<std::byte> bytes(size);
    fill_random(bytes);
    return bytes;
}

// A random XTS key; random halves are equal with negligible probability.
inline SecureBytes random_xts_key() {
    return SecureBytes::random(64);
}

inline std::vector<std::byte> copy_of(std::span<const std::byte> bytes) {
    return {bytes.begin(), bytes.end()};
}

// Runs `action` and returns the code of the CryptoError it throws; fails the
// test if it throws nothing.
template <typename Action>
CryptoErrc error_code_of(Action&& action) {
    return hostcrypt::test::thrown<CryptoError>(std::forward<Action>(action)).code();
}

}  // namespace hostcrypt::crypto::test
