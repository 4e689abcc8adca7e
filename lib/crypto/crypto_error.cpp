#include "crypto/crypto_error.hpp"

#include <openssl/err.h>

namespace hostcrypt::crypto {

[[noreturn]] void throw_openssl_error(CryptoErrc code, const std::string& what) {
    std::string message = what;
    const char* separator = ": ";
    while (unsigned long err = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(err, buffer, sizeof buffer);
        message += separator;
        message += buffer;
        separator = "; ";
    }
    throw CryptoError(code, message);
}

void clear_openssl_errors() noexcept {
    ERR_clear_error();
}

}  // namespace hostcrypt::crypto
