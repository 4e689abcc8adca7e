#include "disk/sector_codec.hpp"

#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "crypto/cipher_stack.hpp"
#include "crypto/sector_cipher.hpp"
#include "crypto/secure_bytes.hpp"
#include "disk/disk_fixture.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;

namespace {

// A cipher stack of `layers` layers with fresh keys; the keys are kept so a
// second, independent stack can be built for comparison.
struct TestCipher {
    std::vector<crypto::SecureBytes> keys;
    std::uint32_t sector_size;

    TestCipher(std::size_t layers, std::uint32_t sector_size_in) : sector_size(sector_size_in) {
        for (std::size_t i = 0; i < layers; ++i) {
            keys.push_back(crypto::SecureBytes::random(crypto::xts_key_size));
        }
    }
    crypto::CipherStack stack() const {
        std::vector<crypto::SectorCipher> ciphers;
        for (const crypto::SecureBytes& key : keys) {
            ciphers.emplace_back(key.bytes(), sector_size);
        }
        return crypto::CipherStack(std::move(ciphers));
    }
};

std::span<std::byte> sector(std::vector<std::byte>& data, std::size_t index, std::size_t size) {
    return std::span(data).subspan(index * size, size);
}

}  // namespace

TEST_CASE("sectors encrypted by the codec decrypt to the same plaintext", "[codec]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const std::size_t layers = GENERATE(1u, 2u);
    const std::uint64_t first_sector = GENERATE(as<std::uint64_t>{}, 0, 7, 1ull << 40);
    const TestCipher keys(layers, sector_size);
    auto cipher = keys.stack();
    const std::vector<std::byte> plaintext = random_bytes(5 * sector_size);
    std::vector<std::byte> data = plaintext;
    encrypt_sectors(cipher, data, first_sector);
    CHECK(data != plaintext);
    decrypt_sectors(cipher, data, first_sector);
    CHECK(data == plaintext);
}

TEST_CASE("all-zero stored sectors read as zeros among data sectors in one run", "[codec]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const std::size_t layers = GENERATE(1u, 2u);
    const std::uint64_t first_sector = GENERATE(as<std::uint64_t>{}, 0, 1000);
    const TestCipher keys(layers, sector_size);
    auto cipher = keys.stack();
    // Holes at the start, in a run of two in the middle and at the end.
    const std::vector<bool> hole{true, false, true, true, false, false, true};
    const std::vector<std::byte> plaintext = pattern_bytes(hole.size() * sector_size, 3);
    std::vector<std::byte> stored = plaintext;
    encrypt_sectors(cipher, stored, first_sector);
    for (std::size_t i = 0; i < hole.size(); ++i) {
        if (hole[i]) {
            std::fill(sector(stored, i, sector_size).begin(), sector(stored, i, sector_size).end(),
                      std::byte{0});
        }
    }
    decrypt_sectors(cipher, stored, first_sector);
    for (std::size_t i = 0; i < hole.size(); ++i) {
        INFO("sector " << i);
        if (hole[i]) {
            CHECK(all_zero(sector(stored, i, sector_size)));
        } else {
            // Each data sector decrypts with its own tweak, wherever the holes were.
            CHECK(copy_of(sector(stored, i, sector_size)) ==
                  std::vector<std::byte>(
                      plaintext.begin() + static_cast<long>(i * sector_size),
                      plaintext.begin() + static_cast<long>((i + 1) * sector_size)));
        }
    }
}

TEST_CASE("a zero plaintext sector never encrypts to a hole", "[codec]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const std::size_t layers = GENERATE(1u, 2u);
    const TestCipher keys(layers, sector_size);
    auto cipher = keys.stack();
    std::vector<std::byte> data(8 * sector_size);
    encrypt_sectors(cipher, data, 0);
    for (std::size_t i = 0; i < 8; ++i) {
        CHECK_FALSE(all_zero(sector(data, i, sector_size)));
    }
    decrypt_sectors(cipher, data, 0);
    CHECK(all_zero(data));
}

TEST_CASE("a stored sector that is zero except for one byte is data, not a hole", "[codec]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    const TestCipher keys(2, sector_size);
    auto cipher = keys.stack();
    auto reference = keys.stack();
    // Past the first 16 bytes a shortcut might look at, and at the very end.
    for (const std::size_t nonzero : {std::size_t{16}, std::size_t{sector_size} - 1}) {
        INFO("non-zero byte at " << nonzero);
        std::vector<std::byte> stored(sector_size);
        stored[nonzero] = std::byte{1};
        std::vector<std::byte> expected = stored;
        reference.decrypt(expected, 3);

        decrypt_sectors(cipher, stored, 3);
        CHECK(stored == expected);
        CHECK_FALSE(all_zero(stored));
    }
}
