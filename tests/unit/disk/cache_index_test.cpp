// CacheIndex: which sector each cache slot holds, CLOCK reuse that never
// takes a dirty slot, and the persisted form with its refusals.

#include "disk/cache_index.hpp"

#include <catch2/catch.hpp>

#include "disk/disk_error.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using Catch::Matchers::Contains;
using hostcrypt::test::thrown;

TEST_CASE("a cache index hands out empty slots first, then clean ones by CLOCK",
          "[disk][cache_index]") {
    CacheIndex index(3);
    CHECK(index.claim(100) == 0u);
    CHECK(index.claim(200) == 1u);
    CHECK(index.claim(300) == 2u);
    CHECK(index.used_slots() == 3);
    CHECK(index.find(200) == 1u);
    CHECK(index.sector_of(2) == 300u);
    CHECK_FALSE(index.find(400).has_value());

    // Every slot was used since the hand last passed: the first sweep spares
    // them all, the second takes slot 0.
    CHECK(index.claim(400) == 0u);
    CHECK_FALSE(index.find(100).has_value());
    CHECK(index.find(400) == 0u);
    // Slot 1 was spared once and not used since: it goes next.
    CHECK(index.claim(500) == 1u);
    CHECK_FALSE(index.find(200).has_value());
}

TEST_CASE("a dirty slot is never reused", "[disk][cache_index]") {
    CacheIndex index(2);
    index.mark_dirty(*index.claim(1));
    index.mark_dirty(*index.claim(2));
    CHECK(index.dirty_slots() == 2);
    CHECK_FALSE(index.claim(3).has_value());
    CHECK(index.dirty_from(0, 10) == std::vector<std::uint64_t>{0, 1});
    CHECK(index.dirty_from(1, 1) == std::vector<std::uint64_t>{1});
    index.mark_clean(0);
    CHECK(index.dirty_slots() == 1);
    CHECK(index.claim(3) == 0u);
    CHECK(index.find(2) == 1u);
    CHECK(index.is_dirty(1));
}

TEST_CASE("a forgotten sector frees its slot and its dirt", "[disk][cache_index]") {
    CacheIndex index(2);
    index.mark_dirty(*index.claim(7));
    CHECK(index.forget(7));
    CHECK_FALSE(index.forget(7));
    CHECK(index.dirty_slots() == 0);
    CHECK(index.used_slots() == 0);
    CHECK(index.claim(8) == 0u);
}

TEST_CASE("a cache index survives its persisted form", "[disk][cache_index]") {
    CacheIndex index(4);
    index.claim(10);
    index.mark_dirty(*index.claim(0));
    index.claim(99);
    const std::vector<std::byte> bytes = index.serialize();
    REQUIRE(bytes.size() == 4 * 16);
    CHECK(bytes[0] == std::byte{11});  // sector 10, stored plus one
    CHECK(bytes[16] == std::byte{1});  // sector 0
    CHECK(bytes[24] == std::byte{1});  // dirty

    CacheIndex read = CacheIndex::deserialize(bytes, 4, 100, "c");
    CHECK(read.used_slots() == 3);
    CHECK(read.dirty_slots() == 1);
    CHECK(read.find(0) == 1u);
    CHECK(read.is_dirty(1));
    CHECK(read.find(99) == 2u);
    CHECK(read.claim(50) == 3u);  // the empty slot
    CHECK(read.serialize() != bytes);
}

TEST_CASE("a damaged cache index is refused", "[disk][cache_index][errors]") {
    CacheIndex index(2);
    index.claim(5);
    index.claim(6);
    std::vector<std::byte> bytes = index.serialize();

    auto error = thrown<DiskError>([&] { CacheIndex::deserialize(bytes, 3, 100, "c"); });
    CHECK(error.code() == DiskErrc::corrupt);
    CHECK_THAT(error.what(), Contains("cache c: index is 32 bytes, not 48"));

    std::vector<std::byte> twice = bytes;
    twice[16] = twice[0];
    CHECK_THAT(thrown<DiskError>([&] { CacheIndex::deserialize(twice, 2, 100, "c"); }).what(),
               Contains("holds sector 5 twice"));

    std::vector<std::byte> flags = bytes;
    flags[8] = std::byte{4};
    CHECK_THAT(thrown<DiskError>([&] { CacheIndex::deserialize(flags, 2, 100, "c"); }).what(),
               Contains("slot 0 has unknown state 0x4"));

    CHECK_THAT(thrown<DiskError>([&] { CacheIndex::deserialize(bytes, 2, 6, "c"); }).what(),
               Contains("slot 1 holds sector 6, past the disk's end"));
}
