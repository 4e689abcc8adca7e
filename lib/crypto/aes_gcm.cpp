#include "crypto/aes_gcm.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "crypto/byte_length.hpp"
#include "crypto/crypto_error.hpp"
#include "crypto/openssl_handles.hpp"
#include "crypto/random.hpp"

namespace hostcrypt::crypto {

namespace {

CipherCtxHandle gcm_context(std::span<const std::byte> key, std::span<const std::byte> nonce,
                            std::span<const std::byte> associated_data, bool encrypt) {
    if (key.size() != gcm_key_size) {
        throw CryptoError(
            CryptoErrc::invalid_key,
            fmt::format("AES-256-GCM needs a {}-byte key, got {} bytes", gcm_key_size, key.size()));
    }
    const int aad_length = small_object_length(associated_data.size(), "associated data", true);
    const CipherHandle cipher = fetch_cipher("AES-256-GCM");
    CipherCtxHandle ctx = new_cipher_ctx();
    int ignored = 0;
    if (EVP_CipherInit_ex2(ctx.get(), cipher.get(), as_uchar(key.data()), as_uchar(nonce.data()),
                           encrypt ? 1 : 0, nullptr) != 1 ||
        (aad_length > 0 && EVP_CipherUpdate(ctx.get(), nullptr, &ignored,
                                            as_uchar(associated_data.data()), aad_length) != 1)) {
        throw_openssl_error(CryptoErrc::library, "AES-256-GCM setup failed");
    }
    return ctx;
}

}  // namespace

std::vector<std::byte> aes_gcm_seal(std::span<const std::byte> key,
                                    std::span<const std::byte> plaintext,
                                    std::span<const std::byte> associated_data) {
    const int plaintext_length = small_object_length(plaintext.size(), "the secret to seal");
    std::vector<std::byte> sealed(gcm_nonce_size + plaintext.size() + gcm_tag_size);
    const std::span<std::byte> nonce(sealed.data(), gcm_nonce_size);
    fill_random(nonce);
    CipherCtxHandle ctx = gcm_context(key, nonce, associated_data, true);

    std::byte* ciphertext = sealed.data() + gcm_nonce_size;
    int written = 0;
    int final_written = 0;
    if (EVP_CipherUpdate(ctx.get(), as_uchar(ciphertext), &written, as_uchar(plaintext.data()),
                         plaintext_length) != 1 ||
        EVP_CipherFinal_ex(ctx.get(), as_uchar(ciphertext + written), &final_written) != 1 ||
        written + final_written != plaintext_length ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(gcm_tag_size),
                            ciphertext + plaintext.size()) != 1) {
        throw_openssl_error(CryptoErrc::library, "AES-256-GCM seal failed");
    }
    return sealed;
}

SecureBytes aes_gcm_open(std::span<const std::byte> key, std::span<const std::byte> sealed,
                         std::span<const std::byte> associated_data) {
    if (sealed.size() <= gcm_nonce_size + gcm_tag_size || sealed.size() > max_small_object) {
        throw CryptoError(CryptoErrc::authentication_failed,
                          fmt::format("sealed blob is malformed: {} bytes is too short or too "
                                      "long to hold nonce, ciphertext and tag",
                                      sealed.size()));
    }
    const auto nonce = sealed.first(gcm_nonce_size);
    const auto ciphertext =
        sealed.subspan(gcm_nonce_size, sealed.size() - gcm_nonce_size - gcm_tag_size);
    std::array<std::byte, gcm_tag_size> tag{};
    std::copy_n(sealed.end() - gcm_tag_size, gcm_tag_size, tag.begin());

    CipherCtxHandle ctx = gcm_context(key, nonce, associated_data, false);
    SecureBytes plaintext(ciphertext.size());
    int written = 0;
    int final_written = 0;
    if (EVP_CipherUpdate(ctx.get(), as_uchar(plaintext.bytes().data()), &written,
                         as_uchar(ciphertext.data()), static_cast<int>(ciphertext.size())) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(gcm_tag_size),
                            tag.data()) != 1) {
        throw_openssl_error(CryptoErrc::library, "AES-256-GCM open failed");
    }
    if (EVP_CipherFinal_ex(ctx.get(), as_uchar(plaintext.bytes().data() + written),
                           &final_written) != 1) {
        // `plaintext` is cleansed on the way out: unauthenticated bytes never escape.
        clear_openssl_errors();
        throw CryptoError(CryptoErrc::authentication_failed,
                          "sealed blob failed authentication: wrong key or associated data, or "
                          "the blob was altered");
    }
    return plaintext;
}

}  // namespace hostcrypt::crypto
