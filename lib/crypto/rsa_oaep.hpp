#pragma once

// RSA key-encryption keys (2048, 3072 or 4096 bits) that wrap DEKs with
// RSA-OAEP, SHA-256 as both the OAEP digest and the MGF1 digest — the scheme
// key vaults call RSA-OAEP-256.
//
// Thread safety: a const RsaKeyPair may be used from several threads at once;
// every call builds its own OpenSSL operation context.

#include <cstddef>
#include <span>
#include <vector>

#include "crypto/openssl_handles.hpp"
#include "crypto/secure_bytes.hpp"

namespace hostcrypt::crypto {

bool is_supported_rsa_size(unsigned bits) noexcept;

class RsaKeyPair {
  public:
    // Throws CryptoError(invalid_argument) for sizes other than 2048/3072/4096.
    static RsaKeyPair generate(unsigned bits);
    // Reads the DER that private_der() wrote; throws CryptoError(invalid_key)
    // for anything that is not an RSA private key of a supported size.
    static RsaKeyPair from_private_der(std::span<const std::byte> der);

    unsigned bits() const noexcept;
    // The private key as DER (PKCS#1), in secure memory: only for sealing
    // inside a vault, never for storing in the clear.
    SecureBytes private_der() const;
    // SubjectPublicKeyInfo DER; public, safe to store and show.
    std::vector<std::byte> public_der() const;

    std::vector<std::byte> wrap(std::span<const std::byte> key) const;
    // Throws CryptoError(authentication_failed) for a blob wrapped under
    // another key, or altered.
    SecureBytes unwrap(std::span<const std::byte> wrapped) const;

  private:
    explicit RsaKeyPair(PkeyHandle pkey) : pkey_(std::move(pkey)) {}
    PkeyHandle pkey_;
};

}  // namespace hostcrypt::crypto
