#include "crypto/digest.hpp"

#include <memory>

#include <openssl/evp.h>

#include "crypto/crypto_error.hpp"
#include "crypto/openssl_handles.hpp"

namespace hostcrypt::crypto {

Sha256Digest sha256(std::initializer_list<std::span<const std::byte>> parts) {
    std::unique_ptr<EVP_MD_CTX, OpensslDeleter<EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
    Sha256Digest digest{};
    unsigned int length = 0;
    bool ok = ctx && EVP_DigestInit_ex2(ctx.get(), EVP_sha256(), nullptr) == 1;
    for (const auto part : parts) {
        ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx.get(), as_uchar(digest.data()), &length) == 1 &&
         length == digest.size();
    if (!ok) {
        throw_openssl_error(CryptoErrc::library, "SHA-256 failed");
    }
    return digest;
}

}  // namespace hostcrypt::crypto
