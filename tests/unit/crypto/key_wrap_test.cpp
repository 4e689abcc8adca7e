#include "crypto/key_wrap.hpp"

#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "common/hex.hpp"
#include "crypto/crypto_error.hpp"
#include "crypto_test_support.hpp"
#include "published_vectors.hpp"

using namespace hostcrypt::crypto;
using Catch::Matchers::Contains;
using hostcrypt::from_hex;
using hostcrypt::crypto::test::error_code_of;
using hostcrypt::crypto::test::random_bytes;

TEST_CASE("AES key wrap with padding matches the RFC 5649 vectors", "[kwp][kat]") {
    for (const auto& vector : test::rfc5649_vectors) {
        const auto kek = from_hex(vector.kek_hex);
        const auto key = from_hex(vector.key_hex);
        const auto wrapped = from_hex(vector.wrapped_hex);
        CHECK(aes_kwp_wrap(kek, key) == wrapped);
        CHECK(aes_kwp_unwrap(kek, wrapped).equals(key));
    }
}

TEST_CASE("AES key wrap round-trips DEKs of every size under a 256-bit KEK", "[kwp]") {
    const std::size_t key_size = GENERATE(1u, 7u, 8u, 9u, 32u, 64u, 65u);
    const auto kek = SecureBytes::random(32);
    const auto key = random_bytes(key_size);
    const auto wrapped = aes_kwp_wrap(kek.bytes(), key);
    CHECK(wrapped.size() == (key_size + 7) / 8 * 8 + 8);
    CHECK(aes_kwp_unwrap(kek.bytes(), wrapped).equals(key));
}

TEST_CASE("AES key unwrap under the wrong KEK fails", "[kwp][errors]") {
    const auto kek = SecureBytes::random(32);
    const auto other = SecureBytes::random(32);
    const auto wrapped = aes_kwp_wrap(kek.bytes(), random_bytes(64));
    CHECK(error_code_of([&] { aes_kwp_unwrap(other.bytes(), wrapped); }) ==
          CryptoErrc::authentication_failed);
    CHECK_THROWS_WITH(aes_kwp_unwrap(other.bytes(), wrapped), Contains("wrong key-encryption key"));
}

TEST_CASE("AES key unwrap detects a change to any byte", "[kwp][errors]") {
    const auto kek = SecureBytes::random(32);
    const auto wrapped = aes_kwp_wrap(kek.bytes(), random_bytes(64));
    for (std::size_t i = 0; i < wrapped.size(); ++i) {
        auto tampered = wrapped;
        tampered[i] ^= std::byte{0x01};
        CHECK(error_code_of([&] { aes_kwp_unwrap(kek.bytes(), tampered); }) ==
              CryptoErrc::authentication_failed);
    }
}

TEST_CASE("AES key unwrap rejects malformed lengths", "[kwp][errors]") {
    const auto kek = SecureBytes::random(32);
    const auto wrapped = aes_kwp_wrap(kek.bytes(), random_bytes(64));
    const std::size_t length = GENERATE(0u, 8u, 15u, 71u, 64u);
    const std::vector<std::byte> cut(wrapped.begin(), wrapped.begin() + static_cast<long>(length));
    CHECK(error_code_of([&] { aes_kwp_unwrap(kek.bytes(), cut); }) ==
          CryptoErrc::authentication_failed);
}

TEST_CASE("AES key wrap rejects bad KEK sizes and empty keys", "[kwp][errors]") {
    const std::size_t kek_size = GENERATE(0u, 15u, 31u, 33u, 64u);
    const auto kek = random_bytes(kek_size);
    CHECK(error_code_of([&] { aes_kwp_wrap(kek, random_bytes(32)); }) == CryptoErrc::invalid_key);
    CHECK_THROWS_WITH(aes_kwp_wrap(kek, random_bytes(32)), Contains("16, 24 or 32 bytes"));

    const auto good_kek = SecureBytes::random(32);
    CHECK(error_code_of([&] { aes_kwp_wrap(good_kek.bytes(), {}); }) ==
          CryptoErrc::invalid_argument);
}
