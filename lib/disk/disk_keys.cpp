#include "disk/disk_keys.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include "crypto/sector_cipher.hpp"
#include "disk/disk_error.hpp"
#include "keys/keys_error.hpp"

namespace hostcrypt::disk {

namespace {

crypto::CipherStack cipher_of(const std::vector<crypto::SecureBytes>& deks,
                              std::uint32_t sector_size) {
    std::vector<crypto::SectorCipher> layers;
    for (const crypto::SecureBytes& dek : deks) {
        layers.emplace_back(dek.bytes(), sector_size);
    }
    return crypto::CipherStack(std::move(layers));
}

}  // namespace

crypto::CipherStack DiskKeys::make_cipher() const {
    return cipher_of(deks, sector_size);
}

crypto::CipherStack DiskKeys::make_cache_cipher() const {
    return cipher_of(cache_deks, sector_size);
}

crypto::SecureBytes fresh_dek() {
    // Redrawn in the (2^-256) case of equal halves, which XTS forbids.
    for (;;) {
        crypto::SecureBytes dek = crypto::SecureBytes::random(crypto::xts_key_size);
        const auto half = crypto::xts_key_size / 2;
        if (CRYPTO_memcmp(dek.bytes().data(), dek.bytes().data() + half, half) != 0) {
            return dek;
        }
    }
}

CipherLayer fresh_cipher_layer(keys::KeyProviders& providers, const std::string& provider,
                               const std::string& key_name, std::optional<std::uint32_t> version) {
    const crypto::SecureBytes dek = fresh_dek();
    keys::WrappedKey wrapped = providers.provider(provider).wrap(key_name, version, dek.bytes());
    return {xts_cipher_name, wrapped.kek, std::move(wrapped.blob)};
}

DiskKeys unwrap_disk_keys(const DiskHeader& header, keys::KeyProviders& providers,
                          const std::string& disk) {
    DiskKeys keys{header.sector_size, {}, {}};
    for (const CipherLayer& layer : header.layers) {
        try {
            keys.deks.push_back(
                providers.provider(layer.kek.provider).unwrap(layer.kek, layer.wrapped_dek));
        } catch (const keys::KeysError& error) {
            const DiskErrc code = error.code() == keys::KeysErrc::unwrap_failed
                                      ? DiskErrc::unwrap_failed
                                      : DiskErrc::key_unavailable;
            throw DiskError(code, fmt::format("disk {}: cannot unwrap its data key with {}: {}",
                                              disk, keys::to_string(layer.kek), error.what()));
        }
    }
    return keys;
}

std::vector<keys::KeyHealth> disk_key_health(const DiskHeader& header,
                                             keys::KeyProviders& providers) {
    std::vector<keys::KeyHealth> health;
    for (const CipherLayer& layer : header.layers) {
        try {
            health.push_back(providers.provider(layer.kek.provider).health(layer.kek));
        } catch (const keys::KeysError& error) {
            // The provider itself is missing, or could not be asked.
            health.push_back({error.code() == keys::KeysErrc::not_found
                                  ? keys::KeyState::not_found
                                  : keys::KeyState::unreachable,
                              error.what()});
        }
    }
    return health;
}

}  // namespace hostcrypt::disk
