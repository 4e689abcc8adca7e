#include "crypto/digest.hpp"

#include "crypto/crypto_error.hpp"

namespace hostcrypt::crypto {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex2(ctx_.get(), EVP_sha256(), nullptr) != 1) {
        throw_openssl_error(CryptoErrc::library, "SHA-256 failed");
    }
}

void Sha256::update(std::span<const std::byte> bytes) {
    if (EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) != 1) {
        throw_openssl_error(CryptoErrc::library, "SHA-256 failed");
    }
}

Sha256Digest Sha256::finish() {
    Sha256Digest digest{};
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), as_uchar(digest.data()), &length) != 1 ||
        length != digest.size()) {
        throw_openssl_error(CryptoErrc::library, "SHA-256 failed");
    }
    return digest;
}

Sha256Digest sha256(std::initializer_list<std::span<const std::byte>> parts) {
    Sha256 digest;
    for (const auto part : parts) {
        digest.update(part);
    }
    return digest.finish();
}

}  // namespace hostcrypt::crypto
