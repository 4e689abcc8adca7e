#include "crypto/byte_length.hpp"

#include <fmt/format.h>

#include "crypto/crypto_error.hpp"

namespace hostcrypt::crypto {

int small_object_length(std::size_t length, std::string_view what, bool allow_empty) {
    if ((length == 0 && !allow_empty) || length > max_small_object) {
        throw CryptoError(
            CryptoErrc::invalid_argument,
            fmt::format("{} is {} bytes; expected 1 to {} bytes", what, length, max_small_object));
    }
    return static_cast<int>(length);
}

}  // namespace hostcrypt::crypto
