#include "crypto/sector_cipher.hpp"

#include <array>
#include <cstring>
#include <endian.h>
#include <string>

#include <fmt/format.h>
#include <openssl/crypto.h>

#include "crypto/crypto_error.hpp"

namespace hostcrypt::crypto {

bool is_supported_sector_size(std::uint32_t sector_size) noexcept {
    return sector_size == 512 || sector_size == 4096;
}

void check_sector_run(std::span<const std::byte> in, std::span<const std::byte> out,
                      std::uint32_t sector_size) {
    if (in.size() != out.size()) {
        throw CryptoError(
            CryptoErrc::invalid_argument,
            fmt::format("input is {} bytes but output is {} bytes", in.size(), out.size()));
    }
    if (in.size() % sector_size != 0) {
        throw CryptoError(CryptoErrc::invalid_argument,
                          fmt::format("{} bytes is not a whole number of {}-byte sectors",
                                      in.size(), sector_size));
    }
}

SectorCipher::SectorCipher(std::span<const std::byte> key, std::uint32_t sector_size)
    : sector_size_(sector_size) {
    if (key.size() != xts_key_size) {
        throw CryptoError(
            CryptoErrc::invalid_key,
            fmt::format("AES-256-XTS needs a {}-byte key, got {} bytes", xts_key_size, key.size()));
    }
    // libgcrypt checks this only in FIPS mode.
    if (CRYPTO_memcmp(key.data(), key.data() + xts_key_size / 2, xts_key_size / 2) == 0) {
        throw CryptoError(CryptoErrc::invalid_key,
                          "AES-256-XTS key halves are equal (IEEE 1619 requires distinct halves)");
    }
    if (!is_supported_sector_size(sector_size)) {
        throw CryptoError(
            CryptoErrc::invalid_argument,
            fmt::format("unsupported crypto sector size {} (use 512 or 4096)", sector_size));
    }
    handle_ = open_gcry_cipher(GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_XTS);
    if (const gcry_error_t err = gcry_cipher_setkey(handle_.get(), key.data(), key.size());
        err != 0) {
        throw_gcrypt_error(CryptoErrc::invalid_key, "libgcrypt refused the AES-256-XTS key", err);
    }
}

void SectorCipher::encrypt(std::span<const std::byte> in, std::span<std::byte> out,
                           std::uint64_t first_sector) {
    check_sector_run(in, out, sector_size_);
    for (std::size_t offset = 0; offset < in.size(); offset += sector_size_) {
        encrypt_sector(in.data() + offset, out.data() + offset, first_sector++);
    }
}

void SectorCipher::decrypt(std::span<const std::byte> in, std::span<std::byte> out,
                           std::uint64_t first_sector) {
    check_sector_run(in, out, sector_size_);
    for (std::size_t offset = 0; offset < in.size(); offset += sector_size_) {
        decrypt_sector(in.data() + offset, out.data() + offset, first_sector++);
    }
}

// Only the tweak changes per sector: the key schedules set at construction
// are kept. A failure here would mean a broken library, never bad input (the
// sizes are fixed), but it is still checked: a silently skipped sector would
// put plaintext on storage.
void SectorCipher::set_tweak(std::uint64_t sector) {
    std::array<unsigned char, 16> tweak{};  // plain64: the sector number, little-endian
    const std::uint64_t little_endian = htole64(sector);
    std::memcpy(tweak.data(), &little_endian, sizeof little_endian);
    if (const gcry_error_t err = gcry_cipher_setiv(handle_.get(), tweak.data(), tweak.size());
        err != 0) {
        throw_gcrypt_error(CryptoErrc::library, "AES-256-XTS rejected a tweak", err);
    }
}

void SectorCipher::encrypt_sector(const std::byte* in, std::byte* out, std::uint64_t sector) {
    transform_sector(gcry_cipher_encrypt, "encryption", in, out, sector);
}

void SectorCipher::decrypt_sector(const std::byte* in, std::byte* out, std::uint64_t sector) {
    transform_sector(gcry_cipher_decrypt, "decryption", in, out, sector);
}

void SectorCipher::transform_sector(Transform transform, const char* what, const std::byte* in,
                                    std::byte* out, std::uint64_t sector) {
    set_tweak(sector);
    if (const gcry_error_t err = transform(handle_.get(), out, sector_size_, in, sector_size_);
        err != 0) {
        throw_gcrypt_error(CryptoErrc::library, std::string("AES-256-XTS ") + what + " failed",
                           err);
    }
}

}  // namespace hostcrypt::crypto
