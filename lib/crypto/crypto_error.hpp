#pragma once

#include <string>

#include "common/error.hpp"

namespace hostcrypt::crypto {

// Why a crypto operation was refused; callers branch on this, people read what().
enum class CryptoErrc {
    invalid_key,            // wrong length, equal XTS halves, unusable key encoding
    invalid_argument,       // lengths, sector sizes, layer counts
    authentication_failed,  // an unwrap or open with the wrong key, or a tampered blob
    system,                 // the OS refused (mlock, mmap, madvise, getrandom)
    library,                // OpenSSL or libgcrypt failed where it should not
};

class CryptoError : public Error {
  public:
    CryptoError(CryptoErrc code, const std::string& message) : Error(message), code_(code) {}
    CryptoErrc code() const noexcept { return code_; }

  private:
    CryptoErrc code_;
};

// Throws CryptoError(code) whose message is `what` followed by OpenSSL's error
// queue, which it drains, so no stale error is ever blamed on a later call.
[[noreturn]] void throw_openssl_error(CryptoErrc code, const std::string& what);

// Drops whatever OpenSSL queued for a failure we have already turned into our own error.
void clear_openssl_errors() noexcept;

}  // namespace hostcrypt::crypto
