#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/hex.hpp"
#include "disk/disk_error.hpp"
#include "disk/disk_header.hpp"
#include "disk/format_vector.hpp"

using namespace hostcrypt::disk;
using hostcrypt::from_hex;

namespace {

// The bytes of the xxd dump between the format-vector markers of docs/format.md.
std::vector<std::byte> documented_vector() {
    std::ifstream doc(std::string(HOSTCRYPT_SOURCE_DIR) + "/docs/format.md");
    REQUIRE(doc);
    std::string line;
    bool inside = false;
    std::string hex;
    while (std::getline(doc, line)) {
        if (line.find("format-vector:begin") != std::string::npos) {
            inside = true;
        } else if (line.find("format-vector:end") != std::string::npos) {
            break;
        } else if (inside && line.size() > 10 && line[8] == ':') {
            // "00000040: 7b22 6372 ...  {"created..." — hex groups end at two spaces.
            const std::string groups = line.substr(10, line.find("  ", 10) - 10);
            std::copy_if(groups.begin(), groups.end(), std::back_inserter(hex),
                         [](char c) { return c != ' '; });
        }
    }
    return from_hex(hex);
}

}  // namespace

TEST_CASE("the header encoding matches docs/format.md byte for byte", "[format]") {
    const std::vector<std::byte> documented = documented_vector();
    REQUIRE(documented.size() == 817);
    const std::vector<std::byte> slot = encode_header_slot(test::format_vector_header(), "vector");
    REQUIRE(slot.size() == header_slot_size);
    CHECK(std::equal(documented.begin(), documented.end(), slot.begin()));
    CHECK(std::all_of(slot.begin() + static_cast<long>(documented.size()), slot.end(),
                      [](std::byte b) { return b == std::byte{0}; }));
}

TEST_CASE("a header decodes to what was encoded", "[format]") {
    const DiskHeader original = test::format_vector_header();
    const DiskHeader decoded = decode_header_slot(encode_header_slot(original, "d"), "d");
    CHECK(decoded.uuid == original.uuid);
    CHECK(decoded.size == original.size);
    CHECK(decoded.sector_size == original.sector_size);
    CHECK(decoded.data_offset == original.data_offset);
    CHECK(decoded.set_name == original.set_name);
    CHECK(decoded.set_type == original.set_type);
    CHECK(decoded.created == original.created);
    CHECK_FALSE(decoded.rotated);
    CHECK(decoded.sequence == 7);
    REQUIRE(decoded.layers.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(decoded.layers[i].cipher == original.layers[i].cipher);
        CHECK(decoded.layers[i].kek == original.layers[i].kek);
        CHECK(decoded.layers[i].wrapped_dek == original.layers[i].wrapped_dek);
    }
}
