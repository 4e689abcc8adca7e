// HostCache, served through ServedDisk::open with a CacheRequest: the index
// bookkeeping of the data path — lookups and their counts, all-or-nothing
// reservations, fills dropped by writes and invalidation — and a cache
// served again with what it held. The write-back: host_cache_write_back_test.

#include "disk/host_cache.hpp"

#include "disk/host_cache_fixture.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using keys::EncryptionType;

TEST_CASE("a fill is dropped when its sectors were invalidated or written after the lookup",
          "[disk][host_cache]") {
    CacheTest test;
    SECTION("read-only: invalidated (written around the cache)") {
        HostCache& cache = test.serve_read_only();
        CHECK(cache.mode() == CacheMode::read_only);
        const auto keys = test.keys();
        const std::vector<std::byte> data = pattern_bytes(2 * sector, 10);

        std::vector<HostCache::Lookup> found(2);
        cache.lookup(4, found);
        CHECK_FALSE(found[0].slot.has_value());
        CHECK_FALSE(found[1].slot.has_value());
        std::vector<std::uint64_t> slots(2);
        REQUIRE(cache.reserve(slots));
        write_slots(cache, *keys, 4, slots, data);
        cache.invalidate(5, 6);  // the second sector was written meanwhile
        cache.publish_fill(4, slots, found);

        std::vector<HostCache::Lookup> after(2);
        cache.lookup(4, after);
        CHECK(after[0].slot.has_value());  // sector 4's epoch did not move
        CHECK_FALSE(after[1].slot.has_value());
        cache.unpin(after);
        CHECK(cache.stats().used_bytes == sector);

        // Looked up again after the write: this fill is published.
        fill(cache, *keys, 5, std::span(data).subspan(sector));
        cache.lookup(4, after);
        CHECK(after[0].slot.has_value());
        CHECK(after[1].slot.has_value());
        cache.unpin(after);
        CHECK(cache.stats().used_bytes == 2 * sector);
    }
    SECTION("read-write: a client's write published meanwhile wins") {
        HostCache& cache = test.serve_read_write();
        const auto keys = test.keys();
        test.served->keys().revoke("test: key disabled");  // keep the write dirty

        std::vector<HostCache::Lookup> found(1);
        cache.lookup(8, found);
        std::vector<std::uint64_t> fill_slot(1);
        REQUIRE(cache.reserve(fill_slot));
        write_slots(cache, *keys, 8, fill_slot, pattern_bytes(sector, 11));
        const std::vector<std::uint64_t> write_slot =
            client_write(cache, *keys, 8, pattern_bytes(sector, 12));
        cache.publish_fill(8, fill_slot, found);

        std::vector<HostCache::Lookup> after(1);
        cache.lookup(8, after);
        REQUIRE(after[0].slot.has_value());
        CHECK(*after[0].slot == write_slot[0]);
        cache.unpin(after);
        const CacheStats stats = cache.stats();
        CHECK(stats.used_bytes == sector);
        CHECK(stats.dirty_bytes == sector);
        test.served->keys().install(keys);
    }
}

TEST_CASE("of two reads that fill the same sector only the first is kept", "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_only(4 * sector);
    const auto keys = test.keys();
    std::vector<HostCache::Lookup> first(1);
    std::vector<HostCache::Lookup> second(1);
    cache.lookup(12, first);
    cache.lookup(12, second);
    std::vector<std::uint64_t> first_slot(1);
    std::vector<std::uint64_t> second_slot(1);
    REQUIRE(cache.reserve(first_slot));
    REQUIRE(cache.reserve(second_slot));
    const std::vector<std::byte> data = pattern_bytes(sector, 20);
    write_slots(cache, *keys, 12, first_slot, data);
    write_slots(cache, *keys, 12, second_slot, data);
    cache.publish_fill(12, first_slot, first);
    cache.publish_fill(12, second_slot, second);  // cached by now: dropped

    std::vector<HostCache::Lookup> found(1);
    cache.lookup(12, found);
    REQUIRE(found[0].slot.has_value());
    CHECK(*found[0].slot == first_slot[0]);
    cache.unpin(found);
    CHECK(cache.stats().used_bytes == sector);
    // The dropped fill's slot is free again: three slots without evicting.
    std::vector<std::uint64_t> three(3);
    REQUIRE(cache.reserve(three));
    CHECK(std::find(three.begin(), three.end(), first_slot[0]) == three.end());
    cache.cancel(three);
}

TEST_CASE("invalidating the whole disk forgets everything and fails fills in flight",
          "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_only();
    const auto keys = test.keys();
    fill(cache, *keys, 0, pattern_bytes(2 * sector, 21));
    fill(cache, *keys, 1000, pattern_bytes(sector, 22));
    CHECK(cache.stats().used_bytes == 3 * sector);

    std::vector<HostCache::Lookup> in_flight(1);
    cache.lookup(500, in_flight);
    std::vector<std::uint64_t> slot(1);
    REQUIRE(cache.reserve(slot));
    write_slots(cache, *keys, 500, slot, pattern_bytes(sector, 23));
    cache.invalidate(0, test.disk.sector_count());  // a trim of the whole disk
    CHECK(cache.stats().used_bytes == 0);
    cache.publish_fill(500, slot, in_flight);
    CHECK(cache.stats().used_bytes == 0);
    std::vector<HostCache::Lookup> found(1);
    for (const std::uint64_t sector_number : {0ULL, 1ULL, 500ULL, 1000ULL}) {
        cache.lookup(sector_number, found);
        CHECK_FALSE(found[0].slot.has_value());
    }
}

TEST_CASE("invalidate forgets cached sectors, dirty ones included", "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_write();
    const auto keys = test.keys();
    test.served->keys().revoke("test: key disabled");
    client_write(cache, *keys, 30, pattern_bytes(3 * sector, 13));
    CHECK(cache.stats().dirty_bytes == 3 * sector);
    cache.invalidate(31, 33);
    CacheStats stats = cache.stats();
    CHECK(stats.dirty_bytes == sector);
    CHECK(stats.used_bytes == sector);
    std::vector<HostCache::Lookup> found(3);
    cache.lookup(30, found);
    CHECK(found[0].slot.has_value());
    CHECK_FALSE(found[1].slot.has_value());
    CHECK_FALSE(found[2].slot.has_value());
    cache.unpin(found);
    test.served->keys().install(keys);
    CHECK(written_back(cache) == 0);
    CHECK(all_zero(test.raw_disk(31, 2)));  // forgotten, never written back
}

TEST_CASE("lookup counts the sectors it finds and those it misses", "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_only();
    const auto keys = test.keys();
    CacheStats stats = cache.stats();
    CHECK(stats.hits == 0);
    CHECK(stats.misses == 0);

    fill(cache, *keys, 10, pattern_bytes(2 * sector, 14));  // looks up 2: both miss
    stats = cache.stats();
    CHECK(stats.hits == 0);
    CHECK(stats.misses == 2);

    std::vector<HostCache::Lookup> found(4);
    cache.lookup(9, found);
    CHECK_FALSE(found[0].slot.has_value());
    CHECK(found[1].slot.has_value());
    CHECK(found[2].slot.has_value());
    CHECK_FALSE(found[3].slot.has_value());
    cache.unpin(found);
    stats = cache.stats();
    CHECK(stats.hits == 2);
    CHECK(stats.misses == 4);
    CHECK(stats.used_bytes == 2 * sector);
}

TEST_CASE("a cache closed cleanly is served again with what it held", "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_only();
    fill(cache, *test.keys(), 40, pattern_bytes(2 * sector, 15));
    CHECK(close_within(cache, false, false).empty());

    std::string notice;
    HostCache& again = test.serve(CacheSpec{256 * kib, CacheMode::read_only}, &notice);
    CHECK(notice.empty());
    std::vector<HostCache::Lookup> found(2);
    again.lookup(40, found);
    CHECK(found[0].slot.has_value());
    CHECK(found[1].slot.has_value());
    again.unpin(found);
}

TEST_CASE("reserve hands out every slot asked for or none", "[disk][host_cache]") {
    CacheTest test;
    SECTION("read-only") {
        HostCache& cache = test.serve_read_only(4 * sector);
        REQUIRE(cache.slot_count() == 4);
        std::vector<std::uint64_t> five(5);
        CHECK_FALSE(cache.reserve(five));
        std::vector<std::uint64_t> three(3);
        REQUIRE(cache.reserve(three));
        std::vector<std::uint64_t> two(2);
        CHECK_FALSE(cache.reserve(two));  // one slot left: it is given back
        std::vector<std::uint64_t> one(1);
        REQUIRE(cache.reserve(one));
        std::vector<std::uint64_t> another(1);
        CHECK_FALSE(cache.reserve(another));
        cache.cancel(three);
        cache.cancel(one);
        std::vector<std::uint64_t> four(4);
        REQUIRE(cache.reserve(four));
        std::sort(four.begin(), four.end());
        CHECK(four == std::vector<std::uint64_t>{0, 1, 2, 3});
        cache.cancel(four);
    }
    SECTION("read-write: dirty slots are not reused until written back") {
        HostCache& cache = test.serve_read_write(4 * sector);
        const auto keys = test.keys();
        test.served->keys().revoke("test: key disabled");
        const std::vector<std::byte> data = pattern_bytes(4 * sector, 16);
        client_write(cache, *keys, 0, std::span(data).first(3 * sector));
        std::vector<std::uint64_t> two(2);
        CHECK_FALSE(cache.reserve(two));
        client_write(cache, *keys, 3, std::span(data).subspan(3 * sector));  // the last slot
        std::vector<std::uint64_t> one(1);
        CHECK_FALSE(cache.reserve(one));
        CHECK(cache.stats().dirty_bytes == 4 * sector);

        test.served->keys().install(keys);
        Outcome space;
        cache.when_slots_free(space.callback());
        CHECK(space.wait() == 0);
        CHECK(written_back(cache) == 0);
        std::vector<std::uint64_t> four(4);
        REQUIRE(cache.reserve(four));  // clean now: all reusable
        cache.cancel(four);
        CHECK(test.disk_plaintext(*keys, 0, 4) == data);
    }
}
