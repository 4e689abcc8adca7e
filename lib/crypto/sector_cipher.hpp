#pragma once

// AES-256-XTS over whole crypto sectors, as dm-crypt's plain64 with large
// sectors: sector n (counted in units of the crypto sector size) is encrypted
// as one XTS data unit whose tweak is n as a 128-bit little-endian integer.
//
// Thread safety: a SectorCipher is per thread. It owns two OpenSSL contexts
// (encrypt and decrypt key schedules) that are keyed once at construction and
// mutated on every call (only the tweak changes per sector), so no two threads
// may use one object at the same time. Threads that serve the same disk each
// build their own SectorCipher from the shared, immutable key bytes.
//
// Changing the tweak: OpenSSL's documented way is EVP_CipherInit_ex2 with only
// an IV, which costs about as much as encrypting a 512-byte sector (parameter
// lookups by name; see docs/architecture.md). OpenSSL 3 also hands out its
// context's live tweak buffer (OSSL_CIPHER_PARAM_UPDATED_IV as an octet
// pointer). SectorCipher writes the tweak there only after proving, at
// construction and for both directions, that doing so gives exactly the
// documented path's output; otherwise it uses the documented path.

#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/openssl_handles.hpp"

namespace hostcrypt::crypto {

inline constexpr std::size_t xts_key_size = 64;  // two AES-256 keys

// The crypto sector sizes a disk may use; anything else is refused at once.
bool is_supported_sector_size(std::uint32_t sector_size) noexcept;

// How a SectorCipher sets the tweak of each sector.
enum class TweakPath {
    automatic,   // the live tweak buffer where it is proven equivalent, else reinit
    reinit_only  // always EVP_CipherInit_ex2 (for tests and comparisons)
};

class SectorCipher {
  public:
    // Throws CryptoError(invalid_key) for a key that is not 64 bytes or whose
    // halves are equal (IEEE 1619 requires distinct halves), and
    // CryptoError(invalid_argument) for a sector size other than 512 or 4096.
    SectorCipher(std::span<const std::byte> key, std::uint32_t sector_size,
                 TweakPath tweak_path = TweakPath::automatic);

    SectorCipher(SectorCipher&&) noexcept = default;
    SectorCipher& operator=(SectorCipher&&) noexcept = default;

    std::uint32_t sector_size() const noexcept { return sector_size_; }
    // True when both directions set tweaks through OpenSSL's live tweak buffer.
    bool uses_live_tweak() const noexcept {
        return encrypt_tweak_ != nullptr && decrypt_tweak_ != nullptr;
    }

    // A run of whole sectors starting at `first_sector`; `in` and `out` are
    // the same size and either identical (in place) or disjoint. Throws
    // CryptoError(invalid_argument) if the size is not a whole number of sectors.
    void encrypt(std::span<const std::byte> in, std::span<std::byte> out,
                 std::uint64_t first_sector);
    void decrypt(std::span<const std::byte> in, std::span<std::byte> out,
                 std::uint64_t first_sector);
    void encrypt(std::span<std::byte> data, std::uint64_t first_sector) {
        encrypt(data, data, first_sector);
    }
    void decrypt(std::span<std::byte> data, std::uint64_t first_sector) {
        decrypt(data, data, first_sector);
    }

    // Exactly one sector (sector_size() bytes at each pointer, which may be
    // equal). Unchecked: for CipherStack, which validates the whole run once.
    void encrypt_sector(const std::byte* in, std::byte* out, std::uint64_t sector);
    void decrypt_sector(const std::byte* in, std::byte* out, std::uint64_t sector);

  private:
    void transform_sector(EVP_CIPHER_CTX* ctx, unsigned char* live_tweak, const std::byte* in,
                          std::byte* out, std::uint64_t sector);

    std::uint32_t sector_size_;
    CipherCtxHandle encrypt_ctx_;
    CipherCtxHandle decrypt_ctx_;
    // Owned by the contexts above; null where the documented path is used.
    unsigned char* encrypt_tweak_ = nullptr;
    unsigned char* decrypt_tweak_ = nullptr;
};

// Throws CryptoError(invalid_argument) unless `in` and `out` are equally long
// and hold a whole number of `sector_size` sectors. Shared by every run API.
void check_sector_run(std::span<const std::byte> in, std::span<const std::byte> out,
                      std::uint32_t sector_size);

}  // namespace hostcrypt::crypto
