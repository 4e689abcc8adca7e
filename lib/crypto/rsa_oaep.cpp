#include "crypto/rsa_oaep.hpp"

#include <fmt/format.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/byte_length.hpp"
#include "crypto/crypto_error.hpp"

namespace hostcrypt::crypto {

namespace {

PkeyCtxHandle oaep_context(EVP_PKEY* pkey, bool encrypt) {
    PkeyCtxHandle ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!ctx ||
        (encrypt ? EVP_PKEY_encrypt_init(ctx.get()) : EVP_PKEY_decrypt_init(ctx.get())) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1) {
        throw_openssl_error(CryptoErrc::library, "RSA-OAEP setup failed");
    }
    return ctx;
}

}  // namespace

bool is_supported_rsa_size(unsigned bits) noexcept {
    return bits == 2048 || bits == 3072 || bits == 4096;
}

RsaKeyPair RsaKeyPair::generate(unsigned bits) {
    if (!is_supported_rsa_size(bits)) {
        throw CryptoError(
            CryptoErrc::invalid_argument,
            fmt::format("unsupported RSA key size {} (use 2048, 3072 or 4096)", bits));
    }
    PkeyHandle pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
    if (!pkey) {
        throw_openssl_error(CryptoErrc::library, "RSA key generation failed");
    }
    return RsaKeyPair(std::move(pkey));
}

RsaKeyPair RsaKeyPair::from_private_der(std::span<const std::byte> der) {
    const unsigned char* cursor = as_uchar(der.data());
    PkeyHandle pkey(d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &cursor,
                                   small_object_length(der.size(), "RSA private key")));
    if (!pkey) {
        throw_openssl_error(CryptoErrc::invalid_key, "not an RSA private key");
    }
    RsaKeyPair pair(std::move(pkey));
    if (!is_supported_rsa_size(pair.bits())) {
        throw CryptoError(
            CryptoErrc::invalid_key,
            fmt::format("RSA key has {} bits; only 2048, 3072 and 4096 are used", pair.bits()));
    }
    return pair;
}

unsigned RsaKeyPair::bits() const noexcept {
    return static_cast<unsigned>(EVP_PKEY_get_bits(pkey_.get()));
}

SecureBytes RsaKeyPair::private_der() const {
    const int length = i2d_PrivateKey(pkey_.get(), nullptr);
    if (length <= 0) {
        throw_openssl_error(CryptoErrc::library, "cannot encode the RSA private key");
    }
    // Encode straight into locked memory: no plain heap copy of the key.
    SecureBytes der(static_cast<std::size_t>(length));
    unsigned char* cursor = as_uchar(der.bytes().data());
    if (i2d_PrivateKey(pkey_.get(), &cursor) != length) {
        throw_openssl_error(CryptoErrc::library, "cannot encode the RSA private key");
    }
    return der;
}

std::vector<std::byte> RsaKeyPair::public_der() const {
    const int length = i2d_PUBKEY(pkey_.get(), nullptr);
    if (length <= 0) {
        throw_openssl_error(CryptoErrc::library, "cannot encode the RSA public key");
    }
    std::vector<std::byte> der(static_cast<std::size_t>(length));
    unsigned char* cursor = as_uchar(der.data());
    if (i2d_PUBKEY(pkey_.get(), &cursor) != length) {
        throw_openssl_error(CryptoErrc::library, "cannot encode the RSA public key");
    }
    return der;
}

std::vector<std::byte> RsaKeyPair::wrap(std::span<const std::byte> key) const {
    const int key_length = small_object_length(key.size(), "the key to wrap");
    PkeyCtxHandle ctx = oaep_context(pkey_.get(), true);
    std::size_t wrapped_size = 0;
    if (EVP_PKEY_encrypt(ctx.get(), nullptr, &wrapped_size, as_uchar(key.data()),
                         static_cast<std::size_t>(key_length)) != 1) {
        throw_openssl_error(CryptoErrc::invalid_argument,
                            fmt::format("RSA-OAEP cannot wrap {} bytes", key.size()));
    }
    std::vector<std::byte> wrapped(wrapped_size);
    if (EVP_PKEY_encrypt(ctx.get(), as_uchar(wrapped.data()), &wrapped_size, as_uchar(key.data()),
                         key.size()) != 1) {
        throw_openssl_error(
            CryptoErrc::invalid_argument,
            fmt::format("RSA-OAEP cannot wrap {} bytes with a {}-bit key", key.size(), bits()));
    }
    wrapped.resize(wrapped_size);
    return wrapped;
}

SecureBytes RsaKeyPair::unwrap(std::span<const std::byte> wrapped) const {
    if (wrapped.size() != bits() / 8) {
        throw CryptoError(CryptoErrc::authentication_failed,
                          fmt::format("wrapped key is malformed: {} bytes, but a {}-bit RSA key "
                                      "wraps into {} bytes",
                                      wrapped.size(), bits(), bits() / 8));
    }
    PkeyCtxHandle ctx = oaep_context(pkey_.get(), false);
    SecureBytes key(wrapped.size());
    std::size_t key_size = key.size();
    if (EVP_PKEY_decrypt(ctx.get(), as_uchar(key.bytes().data()), &key_size,
                         as_uchar(wrapped.data()), wrapped.size()) != 1) {
        clear_openssl_errors();
        throw CryptoError(CryptoErrc::authentication_failed,
                          "RSA-OAEP unwrap failed: wrong key-encryption key, or the blob was "
                          "altered");
    }
    key.truncate(key_size);
    return key;
}

}  // namespace hostcrypt::crypto
