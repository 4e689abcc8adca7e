#include "crypto/sector_cipher.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <endian.h>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "crypto/crypto_error.hpp"
#include "crypto/openssl_handles.hpp"
#include "crypto_test_support.hpp"

using namespace hostcrypt::crypto;
using Catch::Matchers::Contains;
using hostcrypt::crypto::test::copy_of;
using hostcrypt::crypto::test::error_code_of;
using hostcrypt::crypto::test::random_bytes;
using hostcrypt::crypto::test::random_xts_key;

namespace {

// `data` through OpenSSL's EVP AES-256-XTS, one data unit per sector.
std::vector<std::byte> openssl_xts(std::span<const std::byte> key, std::span<const std::byte> data,
                                   std::uint32_t sector_size, std::uint64_t first_sector,
                                   bool encrypt) {
    const CipherCtxHandle ctx = new_cipher_ctx();
    REQUIRE(EVP_CipherInit_ex2(ctx.get(), EVP_aes_256_xts(), as_uchar(key.data()), nullptr,
                               encrypt ? 1 : 0, nullptr) == 1);
    std::vector<std::byte> out(data.size());
    for (std::size_t offset = 0; offset < data.size(); offset += sector_size) {
        std::array<unsigned char, 16> tweak{};
        const std::uint64_t sector = htole64(first_sector + offset / sector_size);
        std::memcpy(tweak.data(), &sector, sizeof sector);
        int written = 0;
        REQUIRE(EVP_CipherInit_ex2(ctx.get(), nullptr, nullptr, tweak.data(), -1, nullptr) == 1);
        REQUIRE(EVP_CipherUpdate(ctx.get(), as_uchar(out.data() + offset), &written,
                                 as_uchar(data.data() + offset),
                                 static_cast<int>(sector_size)) == 1);
        REQUIRE(written == static_cast<int>(sector_size));
    }
    return out;
}

}  // namespace

TEST_CASE("sector cipher round-trips whole sectors in place and out of place", "[xts]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const std::uint64_t first_sector = GENERATE(0ull, 7ull, 0x1'0000'0001ull, ~0ull - 8);
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), sector_size);
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

TEST_CASE("the sector cipher agrees with OpenSSL's AES-256-XTS on every byte", "[xts]") {
    // An independent implementation as the reference: OpenSSL's EVP, with
    // the tweak set by its documented path for every sector.
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const auto key = random_xts_key();
    SectorCipher cipher(key.bytes(), sector_size);
    const auto plaintext = random_bytes(sector_size * 16);
    // Sectors far apart, so every tweak byte takes part.
    for (const std::uint64_t first : {0ull, 0xfedcba9876543210ull, ~0ull - 15}) {
        INFO("first sector " << first);
        auto ours = copy_of(plaintext);
        cipher.encrypt(ours, first);
        const auto reference = openssl_xts(key.bytes(), plaintext, sector_size, first, true);
        CHECK(ours == reference);
        CHECK(openssl_xts(key.bytes(), ours, sector_size, first, false) == plaintext);
        cipher.decrypt(ours, first);
        CHECK(ours == plaintext);
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

TEST_CASE("the sector cipher's library names itself and its version", "[xts]") {
    const std::string description = gcrypt_description();
    CHECK_THAT(description, Contains(std::string("libgcrypt ") + gcry_check_version(nullptr)));
    CHECK_THAT(description, Contains("("));
}
