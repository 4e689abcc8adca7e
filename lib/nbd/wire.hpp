#pragma once

// Big-endian loads and stores, byte by byte: NBD is big-endian on the wire,
// and request and reply buffers carry no alignment promise, so neither
// pointer casts nor host-order memcpy would be correct everywhere.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <vector>

namespace hostcrypt::nbd::wire {

template <typename T>
constexpr T load_be(std::span<const std::byte> bytes, std::size_t offset) noexcept {
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        value = static_cast<T>((value << 8) | std::to_integer<T>(bytes[offset + i]));
    }
    return value;
}

template <typename T>
constexpr void store_be(std::span<std::byte> bytes, std::size_t offset, T value) noexcept {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        const auto shift = 8 * (sizeof(T) - 1 - i);
        bytes[offset + i] = static_cast<std::byte>((value >> shift) & 0xff);
    }
}

template <typename T>
void append_be(std::vector<std::byte>& out, T value) {
    std::byte bytes[sizeof(T)];
    store_be<T>(bytes, 0, value);
    out.insert(out.end(), std::begin(bytes), std::end(bytes));
}

}  // namespace hostcrypt::nbd::wire
