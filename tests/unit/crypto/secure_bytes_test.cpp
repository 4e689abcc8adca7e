#include "crypto/secure_bytes.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>

#include <catch2/catch.hpp>
#include <fmt/format.h>

using hostcrypt::crypto::SecureBytes;

namespace {

template <typename T>
concept Streamable = requires(std::ostream& os, const T& value) {
    os << value;
};

// The /proc/self/smaps entry of the mapping that holds `address`.
struct MappingFacts {
    bool found = false;
    std::uint64_t locked_kb = 0;
    std::string vm_flags;
};

MappingFacts facts_of_mapping(const void* address) {
    const auto target = reinterpret_cast<std::uintptr_t>(address);
    std::ifstream smaps("/proc/self/smaps");
    MappingFacts facts;
    bool inside = false;
    std::string line;
    while (std::getline(smaps, line)) {
        std::uintptr_t begin = 0;
        std::uintptr_t end = 0;
        char dash = 0;
        std::istringstream header(line);
        if (header >> std::hex >> begin >> dash >> end && dash == '-') {
            if (inside) {
                break;
            }
            inside = target >= begin && target < end;
            facts.found = facts.found || inside;
            continue;
        }
        if (!inside) {
            continue;
        }
        if (line.rfind("Locked:", 0) == 0) {
            facts.locked_kb = std::stoull(line.substr(7));
        } else if (line.rfind("VmFlags:", 0) == 0) {
            facts.vm_flags = line.substr(8);
        }
    }
    return facts;
}

}  // namespace

static_assert(!std::is_copy_constructible_v<SecureBytes>);
static_assert(!std::is_copy_assignable_v<SecureBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecureBytes>);
static_assert(!Streamable<SecureBytes>, "key bytes must have no stream output");
static_assert(!fmt::is_formattable<SecureBytes>::value, "key bytes must have no fmt output");

TEST_CASE("secure bytes start zeroed with the requested size", "[secure_bytes]") {
    SecureBytes bytes(100);
    REQUIRE(bytes.size() == 100);
    CHECK(std::all_of(bytes.bytes().begin(), bytes.bytes().end(),
                      [](std::byte b) { return b == std::byte{0}; }));
}

TEST_CASE("secure bytes live in locked and undumpable memory that is wiped on fork",
          "[secure_bytes]") {
    SecureBytes key = SecureBytes::random(64);
    const MappingFacts facts = facts_of_mapping(key.bytes().data());
    REQUIRE(facts.found);
    CHECK(facts.locked_kb > 0);
    CHECK(facts.vm_flags.find(" dd") != std::string::npos);  // MADV_DONTDUMP
    CHECK(facts.vm_flags.find(" wf") != std::string::npos);  // MADV_WIPEONFORK
}

TEST_CASE("random secure bytes are fresh each time", "[secure_bytes]") {
    const SecureBytes a = SecureBytes::random(64);
    const SecureBytes b = SecureBytes::random(64);
    CHECK_FALSE(a.equals(b.bytes()));
    CHECK(a.equals(a.bytes()));
}

TEST_CASE("moving secure bytes leaves the source empty", "[secure_bytes]") {
    SecureBytes a = SecureBytes::random(32);
    const auto expected = std::vector<std::byte>(a.bytes().begin(), a.bytes().end());
    SecureBytes b = std::move(a);
    CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    CHECK(b.equals(expected));

    SecureBytes c(8);
    c = std::move(b);
    CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
    CHECK(c.equals(expected));
}

TEST_CASE("truncating secure bytes keeps the prefix", "[secure_bytes]") {
    SecureBytes bytes = SecureBytes::random(40);
    const auto prefix = std::vector<std::byte>(bytes.bytes().begin(), bytes.bytes().begin() + 24);
    bytes.truncate(24);
    CHECK(bytes.size() == 24);
    CHECK(bytes.equals(prefix));
    bytes.truncate(100);  // never grows
    CHECK(bytes.size() == 24);
}

TEST_CASE("equality of secure bytes needs equal length and content", "[secure_bytes]") {
    const SecureBytes key = SecureBytes::random(16);
    auto other = std::vector<std::byte>(key.bytes().begin(), key.bytes().end());
    CHECK(key.equals(other));
    other[15] ^= std::byte{1};
    CHECK_FALSE(key.equals(other));
    other.pop_back();
    CHECK_FALSE(key.equals(other));
    CHECK(SecureBytes().equals({}));
}
