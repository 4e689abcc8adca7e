#include "common/hex.hpp"

#include <vector>

#include <catch2/catch.hpp>

#include "common/error.hpp"

using Catch::Matchers::Contains;
using hostcrypt::from_hex;
using hostcrypt::to_hex;

TEST_CASE("hex round-trips every byte value", "[hex]") {
    std::vector<std::byte> all(256);
    for (std::size_t i = 0; i < all.size(); ++i) {
        all[i] = static_cast<std::byte>(i);
    }
    const std::string hex = to_hex(all);
    CHECK(hex.substr(0, 8) == "00010203");
    CHECK(hex.substr(hex.size() - 4) == "feff");
    CHECK(from_hex(hex) == all);
}

TEST_CASE("hex accepts upper case", "[hex]") {
    CHECK(from_hex("DEADbeef") == std::vector<std::byte>{std::byte{0xde}, std::byte{0xad},
                                                         std::byte{0xbe}, std::byte{0xef}});
}

TEST_CASE("hex rejects odd lengths and non-digits with their position", "[hex][errors]") {
    CHECK_THROWS_AS(from_hex("abc"), hostcrypt::Error);
    CHECK_THROWS_WITH(from_hex("abc"), Contains("odd length"));
    CHECK_THROWS_WITH(from_hex("00zz"), Contains("'z' at position 2"));
}
