#include "crypto/rsa_oaep.hpp"

#include <vector>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/crypto_error.hpp"
#include "crypto/openssl_handles.hpp"
#include "crypto_test_support.hpp"

using namespace hostcrypt::crypto;
using Catch::Matchers::Contains;
using hostcrypt::crypto::test::error_code_of;
using hostcrypt::crypto::test::random_bytes;

namespace {

// One 2048-bit key for the tests that do not care about size: keygen is slow.
const RsaKeyPair& shared_key() {
    static const RsaKeyPair key = RsaKeyPair::generate(2048);
    return key;
}

}  // namespace

TEST_CASE("RSA-OAEP wraps and unwraps a DEK for every supported size", "[rsa][slow]") {
    const unsigned bits = GENERATE(2048u, 3072u, 4096u);
    const RsaKeyPair key = RsaKeyPair::generate(bits);
    CHECK(key.bits() == bits);
    const auto dek = random_bytes(64);
    const auto wrapped = key.wrap(dek);
    CHECK(wrapped.size() == bits / 8);
    CHECK(key.unwrap(wrapped).equals(dek));
}

TEST_CASE("RSA-OAEP wrapping is randomized", "[rsa]") {
    const auto dek = random_bytes(64);
    CHECK(shared_key().wrap(dek) != shared_key().wrap(dek));
}

TEST_CASE("an RSA key survives its private DER encoding", "[rsa]") {
    const SecureBytes der = shared_key().private_der();
    const RsaKeyPair restored = RsaKeyPair::from_private_der(der.bytes());
    CHECK(restored.public_der() == shared_key().public_der());
    const auto dek = random_bytes(64);
    CHECK(restored.unwrap(shared_key().wrap(dek)).equals(dek));
}

TEST_CASE("RSA-OAEP unwrap with another key fails", "[rsa][errors]") {
    const RsaKeyPair other = RsaKeyPair::generate(2048);
    const auto wrapped = shared_key().wrap(random_bytes(64));
    CHECK(error_code_of([&] { other.unwrap(wrapped); }) == CryptoErrc::authentication_failed);
    CHECK_THROWS_WITH(other.unwrap(wrapped), Contains("wrong key-encryption key"));
}

TEST_CASE("RSA-OAEP unwrap detects tampering and bad lengths", "[rsa][errors]") {
    const auto wrapped = shared_key().wrap(random_bytes(64));
    for (const std::size_t position :
         {std::size_t{0}, std::size_t{1}, std::size_t{100}, wrapped.size() - 1}) {
        auto tampered = wrapped;
        tampered[position] ^= std::byte{0x04};
        CHECK(error_code_of([&] { shared_key().unwrap(tampered); }) ==
              CryptoErrc::authentication_failed);
    }
    auto truncated = wrapped;
    truncated.pop_back();
    CHECK_THROWS_WITH(shared_key().unwrap(truncated), Contains("wraps into 256 bytes"));
}

TEST_CASE("RSA-OAEP refuses keys too large to wrap", "[rsa][errors]") {
    // OAEP with SHA-256 fits at most 256 - 2*32 - 2 = 190 bytes in a 2048-bit key.
    CHECK(error_code_of([&] { shared_key().wrap(random_bytes(191)); }) ==
          CryptoErrc::invalid_argument);
    CHECK_NOTHROW(shared_key().wrap(random_bytes(190)));
}

TEST_CASE("RSA key generation rejects unsupported sizes", "[rsa][errors]") {
    const unsigned bits = GENERATE(0u, 1024u, 2047u, 8192u);
    CHECK(error_code_of([&] { RsaKeyPair::generate(bits); }) == CryptoErrc::invalid_argument);
    CHECK_THROWS_WITH(RsaKeyPair::generate(bits), Contains("use 2048, 3072 or 4096"));
}

TEST_CASE("RSA private keys are refused when malformed or too small", "[rsa][errors]") {
    const auto garbage = random_bytes(300);
    CHECK(error_code_of([&] { RsaKeyPair::from_private_der(garbage); }) == CryptoErrc::invalid_key);

    PkeyHandle small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
    REQUIRE(small);
    unsigned char* der = nullptr;
    const int length = i2d_PrivateKey(small.get(), &der);
    REQUIRE(length > 0);
    const std::vector<std::byte> small_der(reinterpret_cast<std::byte*>(der),
                                           reinterpret_cast<std::byte*>(der) + length);
    OPENSSL_free(der);
    CHECK(error_code_of([&] { RsaKeyPair::from_private_der(small_der); }) ==
          CryptoErrc::invalid_key);
    CHECK_THROWS_WITH(RsaKeyPair::from_private_der(small_der), Contains("1024 bits"));
}
