#include "crypto/openssl_handles.hpp"

#include <string>

#include "crypto/crypto_error.hpp"

namespace hostcrypt::crypto {

CipherHandle fetch_cipher(const char* name) {
    CipherHandle cipher(EVP_CIPHER_fetch(nullptr, name, nullptr));
    if (!cipher) {
        throw_openssl_error(CryptoErrc::library,
                            std::string("OpenSSL does not provide cipher ") + name);
    }
    return cipher;
}

CipherCtxHandle new_cipher_ctx() {
    CipherCtxHandle ctx(EVP_CIPHER_CTX_new());
    if (!ctx) {
        throw_openssl_error(CryptoErrc::library, "cannot allocate an OpenSSL cipher context");
    }
    return ctx;
}

}  // namespace hostcrypt::crypto
