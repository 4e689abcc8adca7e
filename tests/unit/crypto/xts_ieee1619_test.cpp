#include <vector>

#include <catch2/catch.hpp>

#include "common/hex.hpp"
#include "crypto/sector_cipher.hpp"
#include "published_vectors.hpp"

using namespace hostcrypt::crypto;
using hostcrypt::from_hex;

// IEEE 1619 data units are 512 bytes and its data unit sequence number is our
// sector number, so each vector is exactly one sector of a 512-byte-sector disk.
TEST_CASE("AES-256-XTS matches the IEEE 1619 known answers", "[xts][kat]") {
    for (const auto& vector : test::ieee1619_xts_aes256_vectors) {
        INFO("IEEE 1619 vector " << vector.number);
        const auto key = from_hex(vector.key_hex);
        const auto plaintext = from_hex(vector.plaintext_hex);
        const auto ciphertext = from_hex(vector.ciphertext_hex);
        REQUIRE(plaintext.size() == 512);
        SectorCipher cipher(key, 512);

        std::vector<std::byte> encrypted(plaintext.size());
        cipher.encrypt(plaintext, encrypted, vector.sequence_number);
        CHECK(encrypted == ciphertext);

        std::vector<std::byte> decrypted(ciphertext.size());
        cipher.decrypt(ciphertext, decrypted, vector.sequence_number);
        CHECK(decrypted == plaintext);
    }
}
