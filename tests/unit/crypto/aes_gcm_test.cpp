#include "crypto/aes_gcm.hpp"

#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "crypto/crypto_error.hpp"
#include "crypto_test_support.hpp"

using namespace hostcrypt::crypto;
using Catch::Matchers::Contains;
using hostcrypt::crypto::test::error_code_of;
using hostcrypt::crypto::test::random_bytes;

namespace {

std::vector<std::byte> text(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()),
            reinterpret_cast<const std::byte*>(s.data()) + s.size()};
}

}  // namespace

TEST_CASE("AES-GCM sealing round-trips with its associated data", "[gcm]") {
    const auto key = SecureBytes::random(gcm_key_size);
    const auto secret = random_bytes(64);
    const auto aad = text("disk 0f3c layer 0");
    const auto sealed = aes_gcm_seal(key.bytes(), secret, aad);
    CHECK(sealed.size() == gcm_nonce_size + secret.size() + gcm_tag_size);
    CHECK(aes_gcm_open(key.bytes(), sealed, aad).equals(secret));
    CHECK(aes_gcm_open(key.bytes(), aes_gcm_seal(key.bytes(), secret, {}), {}).equals(secret));
}

TEST_CASE("AES-GCM uses a fresh nonce for every seal", "[gcm]") {
    const auto key = SecureBytes::random(gcm_key_size);
    const auto secret = random_bytes(64);
    CHECK(aes_gcm_seal(key.bytes(), secret, {}) != aes_gcm_seal(key.bytes(), secret, {}));
}

TEST_CASE("AES-GCM open fails for a wrong key or associated data", "[gcm][errors]") {
    const auto key = SecureBytes::random(gcm_key_size);
    const auto other = SecureBytes::random(gcm_key_size);
    const auto sealed = aes_gcm_seal(key.bytes(), random_bytes(64), text("layer 0"));
    CHECK(error_code_of([&] { aes_gcm_open(other.bytes(), sealed, text("layer 0")); }) ==
          CryptoErrc::authentication_failed);
    CHECK(error_code_of([&] { aes_gcm_open(key.bytes(), sealed, text("layer 1")); }) ==
          CryptoErrc::authentication_failed);
    CHECK_THROWS_WITH(aes_gcm_open(key.bytes(), sealed, {}), Contains("failed authentication"));
}

TEST_CASE("AES-GCM open detects a change to any byte", "[gcm][errors]") {
    const auto key = SecureBytes::random(gcm_key_size);
    const auto sealed = aes_gcm_seal(key.bytes(), random_bytes(40), text("aad"));
    for (std::size_t i = 0; i < sealed.size(); ++i) {
        auto tampered = sealed;
        tampered[i] ^= std::byte{0x80};
        CHECK(error_code_of([&] { aes_gcm_open(key.bytes(), tampered, text("aad")); }) ==
              CryptoErrc::authentication_failed);
    }
}

TEST_CASE("AES-GCM open rejects truncated blobs", "[gcm][errors]") {
    const auto key = SecureBytes::random(gcm_key_size);
    const auto sealed = aes_gcm_seal(key.bytes(), random_bytes(40), {});
    const std::size_t length = GENERATE(0u, 12u, 28u, 67u);
    const std::vector<std::byte> cut(sealed.begin(), sealed.begin() + static_cast<long>(length));
    CHECK(error_code_of([&] { aes_gcm_open(key.bytes(), cut, {}); }) ==
          CryptoErrc::authentication_failed);
}

TEST_CASE("AES-GCM rejects keys that are not 256 bits and empty secrets", "[gcm][errors]") {
    const auto short_key = random_bytes(16);
    CHECK(error_code_of([&] { aes_gcm_seal(short_key, random_bytes(8), {}); }) ==
          CryptoErrc::invalid_key);
    CHECK_THROWS_WITH(aes_gcm_seal(short_key, random_bytes(8), {}), Contains("32-byte key"));
    const auto key = SecureBytes::random(gcm_key_size);
    CHECK(error_code_of([&] { aes_gcm_seal(key.bytes(), {}, {}); }) ==
          CryptoErrc::invalid_argument);
}
