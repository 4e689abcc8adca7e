#pragma once

#include <cstddef>
#include <string_view>

namespace hostcrypt::crypto {

// Wrapped and sealed objects are keys and small records, never bulk data; this
// bound keeps every length within OpenSSL's int parameters with room to spare.
inline constexpr std::size_t max_small_object = 1 << 20;

// The length as OpenSSL's int; throws CryptoError(invalid_argument) naming
// `what` if it is empty (when `allow_empty` is false) or above max_small_object.
int small_object_length(std::size_t length, std::string_view what, bool allow_empty = false);

}  // namespace hostcrypt::crypto
