#include "common/hex.hpp"

#include <fmt/format.h>

#include "common/error.hpp"

namespace hostcrypt {

namespace {

int hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

std::string to_hex(std::span<const std::byte> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (const std::byte b : bytes) {
        const auto value = std::to_integer<unsigned>(b);
        hex.push_back(digits[value >> 4]);
        hex.push_back(digits[value & 0xf]);
    }
    return hex;
}

std::vector<std::byte> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        throw Error(fmt::format("hex string has an odd length ({} characters)", hex.size()));
    }
    std::vector<std::byte> bytes(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); ++i) {
        const int value = hex_digit_value(hex[i]);
        if (value < 0) {
            throw Error(fmt::format("'{}' at position {} is not a hex digit", hex[i], i));
        }
        bytes[i / 2] |= static_cast<std::byte>(i % 2 == 0 ? value << 4 : value);
    }
    return bytes;
}

}  // namespace hostcrypt
