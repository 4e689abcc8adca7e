// CacheIndex: which sector each cache slot holds, reserved and pinned slots,
// CLOCK reuse that never takes a dirty slot, write-back bookkeeping, and the
// persisted form with its refusals.

#include "disk/cache_index.hpp"

#include <catch2/catch.hpp>

#include "disk/disk_error.hpp"
#include "disk/disk_string_makers.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using Catch::Matchers::Contains;
using hostcrypt::test::thrown;

namespace {

// Reserves a slot and publishes `sector` in it; returns the slot.
std::uint64_t put(CacheIndex& index, std::uint64_t sector, bool dirty = false,
                  std::uint64_t sequence = 0) {
    const std::optional<std::uint64_t> slot = index.reserve();
    REQUIRE(slot.has_value());
    index.publish(*slot, sector, dirty, sequence);
    return *slot;
}

}  // namespace

TEST_CASE("a cache index hands out empty slots first, then clean ones by CLOCK",
          "[disk][cache_index]") {
    CacheIndex index(3);
    CHECK(put(index, 100) == 0u);
    CHECK(put(index, 200) == 1u);
    CHECK(put(index, 300) == 2u);
    CHECK(index.used_slots() == 3);
    CHECK(index.find(200) == 1u);
    CHECK(index.sector_of(2) == 300u);
    CHECK_FALSE(index.find(400).has_value());

    // Every slot was used since the hand last passed: the first sweep spares
    // them all, the second takes slot 0.
    CHECK(put(index, 400) == 0u);
    CHECK_FALSE(index.find(100).has_value());
    CHECK(index.find(400) == 0u);
    // Slot 1 was spared once and not used since: it goes next.
    CHECK(put(index, 500) == 1u);
    CHECK_FALSE(index.find(200).has_value());
}

TEST_CASE("a reserved slot is invisible until published, and replaces the sector's old slot",
          "[disk][cache_index]") {
    CacheIndex index(3);
    const std::uint64_t old_slot = put(index, 9);
    const std::optional<std::uint64_t> fresh = index.reserve();
    REQUIRE(fresh == 1u);
    CHECK(index.find(9) == old_slot);
    CHECK_FALSE(index.sector_of(*fresh).has_value());

    index.publish(*fresh, 9, true, 5);
    CHECK(index.find(9) == *fresh);
    CHECK_FALSE(index.sector_of(old_slot).has_value());
    CHECK(index.used_slots() == 1);
    CHECK(index.dirty_slots() == 1);

    // A cancelled reservation goes back to the free slots.
    const std::optional<std::uint64_t> unused = index.reserve();
    REQUIRE(unused.has_value());
    index.cancel(*unused);
    CHECK(index.reusable_slots() == 2);
}

TEST_CASE("a pinned slot keeps its bytes: never reused while pinned", "[disk][cache_index]") {
    CacheIndex index(1);
    const std::uint64_t slot = put(index, 1);
    index.pin(slot);
    CHECK_FALSE(index.reserve().has_value());
    // Forgotten while a reader holds it: free only once the reader lets go.
    CHECK(index.forget(1));
    CHECK_FALSE(index.reserve().has_value());
    index.unpin(slot);
    CHECK(index.reserve() == slot);
}

TEST_CASE("a dirty slot is never reused until written back", "[disk][cache_index]") {
    CacheIndex index(2);
    put(index, 1, true, 1);
    put(index, 2, true, 2);
    CHECK(index.dirty_slots() == 2);
    CHECK_FALSE(index.reserve().has_value());
    CHECK(index.oldest_unwritten() == 1u);

    const auto batch = index.start_write_back(10);
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].sector == 1);
    CHECK(batch[1].sector == 2);
    CHECK(index.start_write_back(10).empty());  // taken already
    index.finish_write_back(batch[0].slot, true);
    index.finish_write_back(batch[1].slot, false);  // failed: still dirty
    CHECK(index.dirty_slots() == 1);
    CHECK(index.oldest_unwritten() == 2u);
    CHECK(index.reserve() == batch[0].slot);
    CHECK(index.is_dirty(batch[1].slot));
}

TEST_CASE("write-back takes dirty sectors in disk order, like an elevator", "[disk][cache_index]") {
    CacheIndex index(8);
    // Slots filled in an order unrelated to the sectors they hold.
    for (const std::uint64_t sector : {40u, 10u, 30u, 11u, 12u, 50u}) {
        put(index, sector, true, 1);
    }
    auto first = index.start_write_back(3);
    REQUIRE(first.size() == 3);
    CHECK(first[0].sector == 10);
    CHECK(first[1].sector == 11);
    CHECK(first[2].sector == 12);
    auto second = index.start_write_back(2);
    REQUIRE(second.size() == 2);
    CHECK(second[0].sector == 30);
    CHECK(second[1].sector == 40);
    for (const auto& taken : first) {
        index.finish_write_back(taken.slot, true);
    }
    put(index, 5, true, 2);  // behind the cursor: taken after wrapping round
    auto third = index.start_write_back(8);
    REQUIRE(third.size() == 2);
    CHECK(third[0].sector == 5);
    CHECK(third[1].sector == 50);
}

TEST_CASE("a newer write carries the older unwritten one's sequence", "[disk][cache_index]") {
    CacheIndex index(4);
    put(index, 7, true, 3);
    put(index, 7, true, 8);  // supersedes: sequence 3 is still not on the disk
    CHECK(index.dirty_slots() == 1);
    CHECK(index.oldest_unwritten() == 3u);

    // Superseded while its write-back runs: the write-back carries 8, the
    // new slot only its own write.
    const auto batch = index.start_write_back(10);
    REQUIRE(batch.size() == 1);
    put(index, 7, true, 12);
    CHECK(index.oldest_unwritten() == 3u);  // until that write-back ends
    index.finish_write_back(batch[0].slot, true);
    CHECK(index.oldest_unwritten() == 12u);
    CHECK(index.dirty_slots() == 1);
}

TEST_CASE("a forgotten sector frees its slot and its dirt", "[disk][cache_index]") {
    CacheIndex index(2);
    put(index, 7, true, 1);
    CHECK(index.forget(7));
    CHECK_FALSE(index.forget(7));
    CHECK(index.dirty_slots() == 0);
    CHECK(index.used_slots() == 0);
    CHECK_FALSE(index.oldest_unwritten().has_value());

    put(index, 3);
    put(index, 4);
    index.forget_range(0, 1000);  // by slots: the range is larger than the cache
    CHECK(index.used_slots() == 0);
    put(index, 3);
    put(index, 4);
    index.forget_range(4, 5);
    CHECK(index.find(3).has_value());
    CHECK_FALSE(index.find(4).has_value());
}

TEST_CASE("a cache index survives its persisted form", "[disk][cache_index]") {
    CacheIndex index(4);
    put(index, 10);
    put(index, 0, true, 1);
    put(index, 99);
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
    CHECK(read.oldest_unwritten() == 0u);
    CHECK(read.find(99) == 2u);
    CHECK(put(read, 50) == 3u);  // the empty slot
    CHECK(read.serialize() != bytes);
}

TEST_CASE("a damaged cache index is refused", "[disk][cache_index][errors]") {
    CacheIndex index(2);
    put(index, 5);
    put(index, 6);
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
