#pragma once

// libgcrypt, which runs the sector cipher (docs/architecture.md, "Sector
// cipher"): its one-time initialisation and an RAII owner for its cipher
// handles. gcry_cipher_close wipes a handle's key schedules before freeing it.

#include <gcrypt.h>
#include <memory>
#include <string>
#include <type_traits>

#include "crypto/crypto_error.hpp"

namespace hostcrypt::crypto {

struct GcryCipherCloser {
    void operator()(gcry_cipher_hd_t handle) const noexcept { gcry_cipher_close(handle); }
};
using GcryCipherHandle = std::unique_ptr<std::remove_pointer_t<gcry_cipher_hd_t>, GcryCipherCloser>;

// Throws CryptoError(code) whose message is `what` followed by libgcrypt's
// description of `err`.
[[noreturn]] void throw_gcrypt_error(CryptoErrc code, const std::string& what, gcry_error_t err);

// Initialises libgcrypt once per process (thread-safe; later calls return at
// once). Throws CryptoError(library) if the library at run time is older than
// the headers we were built with.
void ensure_gcrypt_ready();

// A fresh handle for `algorithm` in `mode`; throws CryptoError(library).
GcryCipherHandle open_gcry_cipher(int algorithm, int mode);

// "libgcrypt 1.10.1 (intel-aesni intel-vaes-vpclmul ...)": the version in use
// and the CPU features it found, for logs and benchmark tables.
std::string gcrypt_description();

}  // namespace hostcrypt::crypto
