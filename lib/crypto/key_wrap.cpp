#include "crypto/key_wrap.hpp"

#include <fmt/format.h>

#include "crypto/byte_length.hpp"
#include "crypto/crypto_error.hpp"
#include "crypto/openssl_handles.hpp"

namespace hostcrypt::crypto {

namespace {

constexpr std::size_t kwp_block = 8;

const char* kwp_cipher_name(std::size_t kek_size) {
    switch (kek_size) {
        case 16:
            return "AES-128-WRAP-PAD";
        case 24:
            return "AES-192-WRAP-PAD";
        case 32:
            return "AES-256-WRAP-PAD";
        default:
            throw CryptoError(
                CryptoErrc::invalid_key,
                fmt::format("an AES key-wrap KEK is 16, 24 or 32 bytes, got {}", kek_size));
    }
}

// Wrap mode takes the whole input in one update; there is no streaming.
CipherCtxHandle kwp_context(std::span<const std::byte> kek, bool wrap) {
    const CipherHandle cipher = fetch_cipher(kwp_cipher_name(kek.size()));
    CipherCtxHandle ctx = new_cipher_ctx();
    EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex2(ctx.get(), cipher.get(), as_uchar(kek.data()), nullptr, wrap ? 1 : 0,
                           nullptr) != 1) {
        throw_openssl_error(CryptoErrc::invalid_key, "OpenSSL refused the key-wrap KEK");
    }
    return ctx;
}

}  // namespace

std::vector<std::byte> aes_kwp_wrap(std::span<const std::byte> kek,
                                    std::span<const std::byte> key) {
    const int key_length = small_object_length(key.size(), "the key to wrap");
    CipherCtxHandle ctx = kwp_context(kek, true);
    std::vector<std::byte> wrapped((key.size() + kwp_block - 1) / kwp_block * kwp_block +
                                   kwp_block);
    int written = 0;
    if (EVP_CipherUpdate(ctx.get(), as_uchar(wrapped.data()), &written, as_uchar(key.data()),
                         key_length) != 1 ||
        static_cast<std::size_t>(written) != wrapped.size()) {
        throw_openssl_error(CryptoErrc::library, "AES key wrap failed");
    }
    return wrapped;
}

SecureBytes aes_kwp_unwrap(std::span<const std::byte> kek, std::span<const std::byte> wrapped) {
    if (wrapped.size() < 2 * kwp_block || wrapped.size() % kwp_block != 0 ||
        wrapped.size() > max_small_object) {
        throw CryptoError(CryptoErrc::authentication_failed,
                          fmt::format("wrapped key is malformed: {} bytes is not an RFC 5649 "
                                      "blob (a multiple of 8, at least 16)",
                                      wrapped.size()));
    }
    CipherCtxHandle ctx = kwp_context(kek, false);
    SecureBytes key(wrapped.size() - kwp_block);
    int written = 0;
    if (EVP_CipherUpdate(ctx.get(), as_uchar(key.bytes().data()), &written,
                         as_uchar(wrapped.data()), static_cast<int>(wrapped.size())) != 1 ||
        written <= 0) {
        clear_openssl_errors();
        throw CryptoError(CryptoErrc::authentication_failed,
                          "wrapped key failed its integrity check: wrong key-encryption key, "
                          "or the blob was altered");
    }
    key.truncate(static_cast<std::size_t>(written));
    return key;
}

}  // namespace hostcrypt::crypto
