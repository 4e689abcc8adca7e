#pragma once

// RAII owners for the OpenSSL objects this library holds. OpenSSL frees what
// these own with its *_free functions, which also cleanse key schedules.

#include <cstddef>
#include <memory>

#include <openssl/evp.h>

namespace hostcrypt::crypto {

template <auto FreeFunction>
struct OpensslDeleter {
    template <typename T>
    void operator()(T* object) const noexcept {
        FreeFunction(object);
    }
};

using CipherHandle = std::unique_ptr<EVP_CIPHER, OpensslDeleter<EVP_CIPHER_free>>;
using CipherCtxHandle = std::unique_ptr<EVP_CIPHER_CTX, OpensslDeleter<EVP_CIPHER_CTX_free>>;
using PkeyHandle = std::unique_ptr<EVP_PKEY, OpensslDeleter<EVP_PKEY_free>>;
using PkeyCtxHandle = std::unique_ptr<EVP_PKEY_CTX, OpensslDeleter<EVP_PKEY_CTX_free>>;

// OpenSSL speaks unsigned char; the project speaks std::byte.
inline const unsigned char* as_uchar(const std::byte* bytes) noexcept {
    return reinterpret_cast<const unsigned char*>(bytes);
}
inline unsigned char* as_uchar(std::byte* bytes) noexcept {
    return reinterpret_cast<unsigned char*>(bytes);
}

// Fetches a cipher by name from the default provider; throws CryptoError if absent.
CipherHandle fetch_cipher(const char* name);

// A fresh cipher context; throws CryptoError if OpenSSL cannot allocate one.
CipherCtxHandle new_cipher_ctx();

}  // namespace hostcrypt::crypto
