#include "crypto/cipher_stack.hpp"

#include <utility>

#include <fmt/format.h>

#include "crypto/crypto_error.hpp"

namespace hostcrypt::crypto {

CipherStack::CipherStack(std::vector<SectorCipher> layers) : layers_(std::move(layers)) {
    if (layers_.empty() || layers_.size() > max_cipher_layers) {
        throw CryptoError(CryptoErrc::invalid_argument,
                          fmt::format("a cipher stack has 1 or {} layers, not {}",
                                      max_cipher_layers, layers_.size()));
    }
    sector_size_ = layers_.front().sector_size();
    for (const SectorCipher& layer : layers_) {
        if (layer.sector_size() != sector_size_) {
            throw CryptoError(CryptoErrc::invalid_argument,
                              fmt::format("cipher layers disagree on the sector size ({} and {})",
                                          sector_size_, layer.sector_size()));
        }
    }
}

void CipherStack::encrypt(std::span<const std::byte> in, std::span<std::byte> out,
                          std::uint64_t first_sector) {
    check_sector_run(in, out, sector_size_);
    for (std::size_t offset = 0; offset < in.size(); offset += sector_size_, ++first_sector) {
        // The first layer reads `in`; every later layer works in place on `out`.
        const std::byte* source = in.data() + offset;
        std::byte* sector = out.data() + offset;
        for (SectorCipher& layer : layers_) {
            layer.encrypt_sector(source, sector, first_sector);
            source = sector;
        }
    }
}

void CipherStack::decrypt(std::span<const std::byte> in, std::span<std::byte> out,
                          std::uint64_t first_sector) {
    check_sector_run(in, out, sector_size_);
    for (std::size_t offset = 0; offset < in.size(); offset += sector_size_, ++first_sector) {
        const std::byte* source = in.data() + offset;
        std::byte* sector = out.data() + offset;
        for (auto layer = layers_.rbegin(); layer != layers_.rend(); ++layer) {
            layer->decrypt_sector(source, sector, first_sector);
            source = sector;
        }
    }
}

}  // namespace hostcrypt::crypto
