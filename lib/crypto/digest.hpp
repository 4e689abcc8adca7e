#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>

#include <openssl/evp.h>

#include "crypto/openssl_handles.hpp"

namespace hostcrypt::crypto {

using Sha256Digest = std::array<std::byte, 32>;

// SHA-256 over data that arrives in pieces (a whole disk read block by
// block). Throws CryptoError(library) only if OpenSSL fails.
class Sha256 {
  public:
    Sha256();
    void update(std::span<const std::byte> bytes);
    // Ends the digest; the object cannot be updated afterwards.
    Sha256Digest finish();

  private:
    std::unique_ptr<EVP_MD_CTX, OpensslDeleter<EVP_MD_CTX_free>> ctx_;
};

// SHA-256 of the concatenation of `parts`.
Sha256Digest sha256(std::initializer_list<std::span<const std::byte>> parts);

}  // namespace hostcrypt::crypto
