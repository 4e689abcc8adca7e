#include "crypto/sector_cipher.hpp"

#include <algorithm>
#include <cstdint>
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

TEST_CASE("sector cipher round-trips whole sectors in place and out of place", "[xts]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const std::uint64_t first_sector = GENERATE(0ull, 7ull, 0x1'0000'0001ull, ~0ull - 8);
    const TweakPath path = GENERATE(TweakPath::automatic, TweakPath::reinit_only);
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), sector_size, path);
    const auto plaintext = random_bytes(sector_size * 8);

    std::vector<std::byte> ciphertext(plaintext.size());
    cipher.encrypt(plaintext, ciphertext, first_sector);
    CHECK(ciphertext != plaintext);

    auto in_place = copy_of(plaintext);
    cipher.encrypt(in_place, first_sector);
    CHECK(in_place == ciphertext);

    std::vector<std::byte> decrypted(plaintext.size());
    cipher.decrypt(ciphertext, decrypted, first_sector);
    CHECK(decrypted == plaintext);
    cipher.decrypt(in_place, first_sector);
    CHECK(in_place == plaintext);
}

TEST_CASE("both tweak paths produce identical ciphertext", "[xts]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const auto key = random_xts_key();
    SectorCipher automatic(key.bytes(), sector_size, TweakPath::automatic);
    SectorCipher reinit(key.bytes(), sector_size, TweakPath::reinit_only);
    CHECK_FALSE(reinit.uses_live_tweak());
    // Informational: on OpenSSL 3.0 the live tweak is proven and used.
    INFO("live tweak in use: " << automatic.uses_live_tweak());
    const auto plaintext = random_bytes(sector_size * 16);
    auto by_automatic = copy_of(plaintext);
    auto by_reinit = copy_of(plaintext);
    // Sectors far apart, so every tweak byte takes part.
    for (const std::uint64_t first : {0ull, 0xfedcba9876543210ull, ~0ull - 15}) {
        automatic.encrypt(by_automatic, first);
        reinit.encrypt(by_reinit, first);
        CHECK(by_automatic == by_reinit);
        automatic.decrypt(by_reinit, first);
        reinit.decrypt(by_automatic, first);
        CHECK(by_automatic == plaintext);
        CHECK(by_reinit == plaintext);
    }
}

TEST_CASE("the same plaintext at two sectors gives different ciphertext", "[xts]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), sector_size);
    std::vector<std::byte> sectors(sector_size * 2, std::byte{0x5a});
    cipher.encrypt(sectors, 41);
    CHECK_FALSE(
        std::equal(sectors.begin(), sectors.begin() + sector_size, sectors.begin() + sector_size));
}

TEST_CASE("a sector's ciphertext depends only on its own number", "[xts]") {
    // Encrypting sectors 100..103 as one run or one at a time must agree: the
    // tweak is the absolute sector number, not a position inside the request.
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), sector_size);
    const auto plaintext = random_bytes(sector_size * 4);
    auto run = copy_of(plaintext);
    cipher.encrypt(run, 100);
    for (std::uint64_t i = 0; i < 4; ++i) {
        std::vector<std::byte> one(plaintext.begin() + static_cast<long>(i * sector_size),
                                   plaintext.begin() + static_cast<long>((i + 1) * sector_size));
        cipher.encrypt(one, 100 + i);
        CHECK(std::equal(one.begin(), one.end(), run.begin() + static_cast<long>(i * sector_size)));
    }
}

TEST_CASE("a different key gives different ciphertext and does not decrypt", "[xts]") {
    const auto plaintext = random_bytes(4096);
    const auto key_a = random_xts_key();
    const auto key_b = random_xts_key();
    SectorCipher a(key_a.bytes(), 4096);
    SectorCipher b(key_b.bytes(), 4096);
    auto data = copy_of(plaintext);
    a.encrypt(data, 3);
    auto other = copy_of(plaintext);
    b.encrypt(other, 3);
    CHECK(data != other);
    b.decrypt(data, 3);
    CHECK(data != plaintext);
}

TEST_CASE("sector cipher rejects keys of the wrong length", "[xts][errors]") {
    const std::size_t length = GENERATE(0u, 32u, 63u, 65u, 128u);
    const auto key = random_bytes(length);
    CHECK(error_code_of([&] { SectorCipher(key, 512); }) == CryptoErrc::invalid_key);
    CHECK_THROWS_WITH(SectorCipher(key, 512), Contains("64-byte key"));
}

TEST_CASE("sector cipher rejects equal XTS key halves", "[xts][errors]") {
    auto key = random_bytes(64);
    std::copy_n(key.begin(), 32, key.begin() + 32);
    CHECK(error_code_of([&] { SectorCipher(key, 4096); }) == CryptoErrc::invalid_key);
    CHECK_THROWS_WITH(SectorCipher(key, 4096), Contains("halves are equal"));
}

TEST_CASE("sector cipher rejects unsupported sector sizes", "[xts][errors]") {
    const std::uint32_t sector_size = GENERATE(0u, 16u, 1024u, 2048u, 4097u, 8192u);
    const auto key = random_xts_key();
    CHECK(error_code_of([&] { SectorCipher(key.bytes(), sector_size); }) ==
          CryptoErrc::invalid_argument);
    CHECK_THROWS_WITH(SectorCipher(key.bytes(), sector_size),
                      Contains("unsupported crypto sector size"));
}

TEST_CASE("sector cipher rejects runs that are not whole sectors", "[xts][errors]") {
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), 4096);
    const std::size_t length = GENERATE(1u, 512u, 4095u, 4097u, 8191u);
    std::vector<std::byte> data(length);
    CHECK(error_code_of([&] { cipher.encrypt(data, 0); }) == CryptoErrc::invalid_argument);
    CHECK_THROWS_WITH(cipher.decrypt(data, 0), Contains("not a whole number of 4096-byte sectors"));
}

TEST_CASE("sector cipher rejects input and output of different sizes", "[xts][errors]") {
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), 512);
    std::vector<std::byte> in(1024);
    std::vector<std::byte> out(512);
    CHECK(error_code_of([&] { cipher.encrypt(in, out, 0); }) == CryptoErrc::invalid_argument);
    CHECK_THROWS_WITH(cipher.decrypt(in, out, 0),
                      Contains("input is 1024 bytes but output is 512"));
}

TEST_CASE("an empty run is a no-op", "[xts]") {
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), 512);
    std::vector<std::byte> none;
    CHECK_NOTHROW(cipher.encrypt(none, 0));
}
