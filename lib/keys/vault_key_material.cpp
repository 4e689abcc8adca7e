#include "keys/vault_key_material.hpp"

#include "crypto/key_wrap.hpp"
#include "crypto/rsa_oaep.hpp"

namespace hostcrypt::keys {

using crypto::SecureBytes;

SecureBytes generate_material(KeyType type) {
    if (type == KeyType::aes256) {
        return SecureBytes::random(32);
    }
    const unsigned bits =
        type == KeyType::rsa2048 ? 2048u : (type == KeyType::rsa3072 ? 3072u : 4096u);
    return crypto::RsaKeyPair::generate(bits).private_der();
}

std::vector<std::byte> wrap_with(KeyType type, const SecureBytes& material,
                                 std::span<const std::byte> dek) {
    if (type == KeyType::aes256) {
        return crypto::aes_kwp_wrap(material.bytes(), dek);
    }
    return crypto::RsaKeyPair::from_private_der(material.bytes()).wrap(dek);
}

SecureBytes unwrap_with(KeyType type, const SecureBytes& material,
                        std::span<const std::byte> blob) {
    if (type == KeyType::aes256) {
        return crypto::aes_kwp_unwrap(material.bytes(), blob);
    }
    return crypto::RsaKeyPair::from_private_der(material.bytes()).unwrap(blob);
}

}  // namespace hostcrypt::keys
