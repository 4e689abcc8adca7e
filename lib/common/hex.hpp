#pragma once

// Hex text for public byte strings: wrapped keys, fingerprints, test vectors.
// Never used for unwrapped key material, which must not be printed at all.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hostcrypt {

std::string to_hex(std::span<const std::byte> bytes);

// Accepts upper or lower case; throws hostcrypt::Error for an odd length or a
// character that is not a hex digit, naming its position.
std::vector<std::byte> from_hex(std::string_view hex);

}  // namespace hostcrypt
