#include "crypto/cipher_stack.hpp"

#include <cstdint>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "crypto/crypto_error.hpp"
#include "crypto_test_support.hpp"

using namespace hostcrypt::crypto;
using Catch::Matchers::Contains;
using hostcrypt::crypto::test::copy_of;
using hostcrypt::crypto::test::error_code_of;
using hostcrypt::crypto::test::random_bytes;
using hostcrypt::crypto::test::random_xts_key;

namespace {

CipherStack stack_of(const SecureBytes& inner, const SecureBytes& outer, std::uint32_t size) {
    std::vector<SectorCipher> layers;
    layers.emplace_back(inner.bytes(), size);
    layers.emplace_back(outer.bytes(), size);
    return CipherStack(std::move(layers));
}

CipherStack stack_of(const SecureBytes& only, std::uint32_t size) {
    std::vector<SectorCipher> layers;
    layers.emplace_back(only.bytes(), size);
    return CipherStack(std::move(layers));
}

}  // namespace

TEST_CASE("cipher stacks of one and two layers round-trip", "[stack]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const bool two_layers = GENERATE(false, true);
    const auto inner = random_xts_key();
    const auto outer = random_xts_key();
    CipherStack stack =
        two_layers ? stack_of(inner, outer, sector_size) : stack_of(inner, sector_size);
    CHECK(stack.layer_count() == (two_layers ? 2u : 1u));
    CHECK(stack.sector_size() == sector_size);

    const auto plaintext = random_bytes(sector_size * 6);
    std::vector<std::byte> ciphertext(plaintext.size());
    stack.encrypt(plaintext, ciphertext, 1234567);
    CHECK(ciphertext != plaintext);
    auto in_place = copy_of(plaintext);
    stack.encrypt(in_place, 1234567);
    CHECK(in_place == ciphertext);
    stack.decrypt(in_place, 1234567);
    CHECK(in_place == plaintext);
    std::vector<std::byte> decrypted(plaintext.size());
    stack.decrypt(ciphertext, decrypted, 1234567);
    CHECK(decrypted == plaintext);
}

TEST_CASE("a single-layer stack equals its sector cipher", "[stack]") {
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), 4096);
    CipherStack stack = stack_of(key, 4096);
    const auto plaintext = random_bytes(4096 * 3);
    auto by_cipher = copy_of(plaintext);
    auto by_stack = copy_of(plaintext);
    cipher.encrypt(by_cipher, 9);
    stack.encrypt(by_stack, 9);
    CHECK(by_cipher == by_stack);
}

TEST_CASE("double encryption is inner then outer sector by sector", "[stack]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const auto inner_key = random_xts_key();
    const auto outer_key = random_xts_key();
    SectorCipher inner(inner_key.bytes(), sector_size);
    SectorCipher outer(outer_key.bytes(), sector_size);
    CipherStack stack = stack_of(inner_key, outer_key, sector_size);
    const auto plaintext = random_bytes(sector_size * 4);

    auto stacked = copy_of(plaintext);
    stack.encrypt(stacked, 77);

    auto inner_only = copy_of(plaintext);
    inner.encrypt(inner_only, 77);
    auto outer_only = copy_of(plaintext);
    outer.encrypt(outer_only, 77);
    CHECK(stacked != inner_only);
    CHECK(stacked != outer_only);

    auto composed = copy_of(inner_only);
    outer.encrypt(composed, 77);
    CHECK(stacked == composed);
}

TEST_CASE("double encryption decrypts only with both keys in the right order", "[stack]") {
    const auto inner_key = random_xts_key();
    const auto outer_key = random_xts_key();
    CipherStack right = stack_of(inner_key, outer_key, 4096);
    CipherStack swapped = stack_of(outer_key, inner_key, 4096);
    CipherStack inner_alone = stack_of(inner_key, 4096);
    CipherStack outer_alone = stack_of(outer_key, 4096);
    const auto plaintext = random_bytes(4096 * 2);
    auto ciphertext = copy_of(plaintext);
    right.encrypt(ciphertext, 5);

    for (CipherStack* wrong : {&swapped, &inner_alone, &outer_alone}) {
        auto attempt = copy_of(ciphertext);
        wrong->decrypt(attempt, 5);
        CHECK(attempt != plaintext);
    }
    auto attempt = copy_of(ciphertext);
    right.decrypt(attempt, 5);
    CHECK(attempt == plaintext);
}

TEST_CASE("cipher stacks reject no layers and more than two", "[stack][errors]") {
    std::vector<SectorCipher> none;
    CHECK_THROWS_WITH(CipherStack(std::move(none)), Contains("1 or 2 layers, not 0"));

    std::vector<SectorCipher> three;
    for (int i = 0; i < 3; ++i) {
        const auto key = random_xts_key();
        three.emplace_back(key.bytes(), 512);
    }
    CHECK_THROWS_AS(CipherStack(std::move(three)), CryptoError);
}

TEST_CASE("cipher stacks reject layers with different sector sizes", "[stack][errors]") {
    const auto a = random_xts_key();
    const auto b = random_xts_key();
    std::vector<SectorCipher> layers;
    layers.emplace_back(a.bytes(), 512);
    layers.emplace_back(b.bytes(), 4096);
    CHECK_THROWS_WITH(CipherStack(std::move(layers)), Contains("disagree on the sector size"));
}

TEST_CASE("cipher stacks reject runs that are not whole sectors", "[stack][errors]") {
    const auto a = random_xts_key();
    const auto b = random_xts_key();
    CipherStack stack = stack_of(a, b, 512);
    std::vector<std::byte> data(700);
    CHECK(error_code_of([&] { stack.encrypt(data, 0); }) == CryptoErrc::invalid_argument);
}
