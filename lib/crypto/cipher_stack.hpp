#pragma once

// A CipherStack applies one or two SectorCipher layers with independent keys.
// Layer 0 is the inner layer (under the customer key for `double`), layer 1
// the outer (infrastructure) layer. Encryption applies inner then outer,
// decryption outer then inner, both sector by sector so a sector passes
// through every layer while it is still in L1 cache: one pass over the buffer.
//
// Thread safety: per thread, like the SectorCipher layers it owns.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "crypto/sector_cipher.hpp"

namespace hostcrypt::crypto {

inline constexpr std::size_t max_cipher_layers = 2;

class CipherStack {
  public:
    // Throws CryptoError(invalid_argument) for no layers, more than two, or
    // layers with different sector sizes.
    explicit CipherStack(std::vector<SectorCipher> layers);

    std::uint32_t sector_size() const noexcept { return sector_size_; }
    std::size_t layer_count() const noexcept { return layers_.size(); }

    // Same contract as SectorCipher's run functions.
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

  private:
    std::vector<SectorCipher> layers_;
    std::uint32_t sector_size_ = 0;
};

}  // namespace hostcrypt::crypto
