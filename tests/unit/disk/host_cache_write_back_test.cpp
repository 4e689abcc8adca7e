// HostCache's read-write write-back: dirty data to the disk under the disk's
// keys, FLUSH waiters, key revocation and restore, failures and retries,
// what close() leaves in the file, and following the disk's key versions.

#include "disk/host_cache.hpp"
#include "disk/host_cache_fixture.hpp"
#include "disk/rotation.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using keys::EncryptionType;

TEST_CASE("a read-write cache writes published writes back to the disk under the disk's keys",
          "[disk][host_cache]") {
    const EncryptionType type =
        GENERATE(EncryptionType::platform, EncryptionType::customer, EncryptionType::double_);
    INFO(keys::to_string(type));
    CacheTest test(type);
    HostCache& cache = test.serve_read_write();
    CHECK(cache.mode() == CacheMode::read_write);
    CHECK(cache.slot_count() == 64);
    CHECK(cache.path() == test.cache_path());
    CHECK_THAT(test.served->description(), Contains("read-write host cache"));
    const auto keys = test.keys();
    REQUIRE(keys->cache_deks.size() == keys->deks.size());

    const std::vector<std::byte> run = pattern_bytes(3 * sector, 1);
    const std::vector<std::byte> lone = pattern_bytes(sector, 2);
    client_write(cache, *keys, 3, run);
    const std::vector<std::uint64_t> lone_slot = client_write(cache, *keys, 10, lone);
    CHECK(written_back(cache) == 0);

    CHECK(test.disk_plaintext(*keys, 3, 3) == run);
    CHECK(test.disk_plaintext(*keys, 10, 1) == lone);
    CHECK(all_zero(test.raw_disk(6, 4)));  // nothing else was written
    CHECK(all_zero(test.raw_disk(0, 3)));
    // The cache's ciphertext is not the disk's: its own DEKs.
    std::vector<std::byte> slot_bytes(sector);
    open_storage(cache.path())->read_at(slot_bytes, cache.data_offset() + lone_slot[0] * sector);
    CHECK(slot_bytes != test.raw_disk(10, 1));

    const CacheStats stats = cache.stats();
    CHECK(stats.mode == CacheMode::read_write);
    CHECK(stats.size == 256 * kib);
    CHECK(stats.dirty_bytes == 0);
    CHECK(stats.written_back_bytes == 4 * sector);
    CHECK(stats.used_bytes == 4 * sector);  // written back, still cached (clean)
    CHECK(stats.file == test.cache_path().string());
    CHECK(stats.problem.empty());

    // Still cached: a read finds them.
    std::vector<HostCache::Lookup> found(3);
    cache.lookup(3, found);
    for (const HostCache::Lookup& entry : found) {
        CHECK(entry.slot.has_value());
    }
    cache.unpin(found);
    CHECK(close_within(cache, true, false).empty());
}

TEST_CASE("with nothing dirty a FLUSH is answered at once", "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_write();
    Outcome flush;
    cache.when_written_back(flush.callback());
    CHECK(flush.wait(0ms) == 0);  // called before when_written_back returned
    Outcome idle;
    cache.when_write_back_idle(idle.callback());
    CHECK(idle.wait() == 0);
}

TEST_CASE("dirty data waits while the keys are revoked and reaches the disk once they are back",
          "[disk][host_cache][keys]") {
    const EncryptionType type = GENERATE(EncryptionType::platform, EncryptionType::double_);
    INFO(keys::to_string(type));
    CacheTest test(type);
    HostCache& cache = test.serve_read_write();
    const auto keys = test.keys();
    test.served->keys().revoke("test: key disabled");

    const std::vector<std::byte> first = pattern_bytes(2 * sector, 3);
    const std::vector<std::byte> newer = pattern_bytes(sector, 4);
    const std::vector<std::byte> apart = pattern_bytes(sector, 5);
    client_write(cache, *keys, 0, first);
    client_write(cache, *keys, 7, apart);
    client_write(cache, *keys, 1, newer);  // replaces sector 1 before it was written back

    CacheStats stats = cache.stats();
    CHECK(stats.dirty_bytes == 3 * sector);
    CHECK(stats.used_bytes == 3 * sector);
    CHECK(stats.written_back_bytes == 0);

    // A FLUSH while the keys are away fails instead of waiting for ever.
    Outcome flush;
    cache.when_written_back(flush.callback());
    CHECK(flush.wait() == -EIO);
    CHECK(flush.calls() == 1);
    CHECK(all_zero(test.raw_disk(0, 8)));  // nothing reached the disk
    stats = cache.stats();
    CHECK(stats.dirty_bytes == 3 * sector);
    CHECK(stats.written_back_bytes == 0);

    test.served->keys().install(keys);
    CHECK(written_back(cache) == 0);
    std::vector<std::byte> expected = first;
    std::copy(newer.begin(), newer.end(), expected.begin() + sector);
    CHECK(test.disk_plaintext(*keys, 0, 2) == expected);
    CHECK(test.disk_plaintext(*keys, 7, 1) == apart);
    CHECK(all_zero(test.raw_disk(2, 5)));

    stats = cache.stats();
    CHECK(stats.dirty_bytes == 0);
    CHECK(stats.written_back_bytes == 3 * sector);  // the replaced slot was never written
    CHECK(stats.problem.empty());
    CHECK(flush.calls() == 1);  // a waiter is answered once
}

TEST_CASE("a cache closed without write-back keeps its dirty data for the next time it is served",
          "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_write();
    const auto keys = test.keys();
    test.served->keys().revoke("test: key disabled");  // so nothing is written back meanwhile
    const std::vector<std::byte> data = pattern_bytes(2 * sector, 6);
    client_write(cache, *keys, 20, data);
    CHECK(close_within(cache, false, false).empty());
    CHECK(cache.stats().dirty_bytes == 2 * sector);
    test.served.reset();

    REQUIRE(fs::exists(test.cache_path()));
    const DiskHeader header = test.cache_header_on_disk();
    REQUIRE(header.cache.has_value());
    CHECK(header.cache->clean);
    CHECK(header.cache->dirty_sectors == 2);
    {
        OpenedCache opened =
            CacheFile::open(test.cache_path(), test.disk, test.state.providers(), "d-cache");
        CHECK(opened.notice.empty());
        CHECK(opened.index.dirty_slots() == 2);
        CHECK(dek_ids_of(opened.keys.deks) == dek_ids_of(keys->cache_deks));
        CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d-cache");
    }
    CHECK(all_zero(test.raw_disk(20, 2)));

    // Served again: the write-back finds the dirty sectors and writes them.
    HostCache& again = test.serve_read_write();
    CHECK(again.stats().used_bytes == 2 * sector);
    CHECK(written_back(again) == 0);
    CHECK(eventually([&] { return again.stats().dirty_bytes == 0; }));
    CHECK(test.disk_plaintext(*test.keys(), 20, 2) == data);
}

TEST_CASE("a cache dropped without close() still finds its dirty data", "[disk][host_cache]") {
    // host_cache.hpp says of ~HostCache "the file is left as it is: marked
    // in use, so that the next open starts it empty unless close() ran";
    // host_cache.cpp closes it cleanly instead ("the backstop that keeps
    // dirty data findable"). This checks what the implementation does.
    CacheTest test;
    HostCache& cache = test.serve_read_write();
    const auto keys = test.keys();
    test.served->keys().revoke("test: key disabled");
    client_write(cache, *keys, 4, pattern_bytes(sector, 7));
    test.served.reset();  // no close()

    const DiskHeader header = test.cache_header_on_disk();
    CHECK(header.cache->clean);
    CHECK(header.cache->dirty_sectors == 1);
}

TEST_CASE("a failed write-back fails the FLUSH and keeps the dirty data and is tried again",
          "[disk][host_cache][errors]") {
    CacheTest test;
    HostCache& cache = test.serve_read_write();
    const auto keys = test.keys();
    const std::vector<std::byte> data = pattern_bytes(sector, 18);
    const UnreadableWrite unreadable = unreadable_dirty_write(test, cache, keys, 50, data);

    Outcome flush;
    cache.when_written_back(flush.callback());
    CHECK(flush.wait() == -EIO);
    CHECK(eventually([&] { return !cache.stats().problem.empty(); }));
    CacheStats stats = cache.stats();
    CHECK_THAT(stats.problem, Contains("ends before slot"));
    CHECK(stats.dirty_bytes == sector);
    CHECK(stats.written_back_bytes == 0);
    CHECK(all_zero(test.raw_disk(50, 1)));
    // Logged after the waiters were answered.
    CHECK(eventually([&] {
        const std::lock_guard lock(test.log->mutex);
        return !test.log->lines.empty();
    }));
    {
        const std::lock_guard lock(test.log->mutex);
        REQUIRE_FALSE(test.log->lines.empty());
        CHECK_THAT(test.log->lines.front(), Contains("cache of disk d: write-back failed, 1 "
                                                     "dirty sectors stay in the cache"));
    }

    // The file whole again: the next attempt succeeds.
    fs::resize_file(cache.path(), unreadable.file_size);
    write_slots(cache, *keys, 50, unreadable.slots, data);
    CHECK(written_back(cache) == 0);
    CHECK(test.disk_plaintext(*keys, 50, 1) == data);
    stats = cache.stats();
    CHECK(stats.problem.empty());
    CHECK(stats.dirty_bytes == 0);
    CHECK(stats.written_back_bytes == sector);
    CHECK(eventually([&] {
        const std::lock_guard lock(test.log->mutex);
        return test.log->lines.back() == "cache of disk d: writing back again";
    }));
}

TEST_CASE("a cache served without a log callback survives a failed write-back",
          "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_write_without_log();
    unreadable_dirty_write(test, cache, test.keys(), 50, pattern_bytes(sector, 19));
    Outcome flush;
    cache.when_written_back(flush.callback());
    CHECK(flush.wait() == -EIO);
    CHECK(eventually([&] { return !cache.stats().problem.empty(); }));
    std::this_thread::sleep_for(100ms);  // past the failure's log line
    CHECK(cache.stats().dirty_bytes == sector);
}

TEST_CASE("close with write-back puts the dirty data on the disk and deletes the file",
          "[disk][host_cache]") {
    CacheTest test;
    HostCache& cache = test.serve_read_write();
    const auto keys = test.keys();
    test.served->keys().revoke("test: key disabled");
    const std::vector<std::byte> data = pattern_bytes(4 * sector, 8);
    client_write(cache, *keys, 100, data);
    CHECK(cache.stats().dirty_bytes == 4 * sector);
    test.served->keys().install(keys);

    CHECK(close_within(cache, true, true).empty());
    CHECK_FALSE(fs::exists(test.cache_path()));
    CHECK(test.disk_plaintext(*keys, 100, 4) == data);
    CHECK(cache.stats().dirty_bytes == 0);
    // Closed: it serves nothing more and takes no more writes.
    std::vector<HostCache::Lookup> found(1);
    cache.lookup(100, found);
    CHECK_FALSE(found[0].slot.has_value());
    std::vector<std::uint64_t> slot(1);
    CHECK_FALSE(cache.reserve(slot));
}

TEST_CASE("close with write-back while the keys are revoked keeps the dirty data and says so",
          "[disk][host_cache][keys]") {
    CacheTest test;
    HostCache& cache = test.serve_read_write();
    const auto keys = test.keys();
    test.served->keys().revoke("test: key disabled");
    client_write(cache, *keys, 9, pattern_bytes(2 * sector, 9));

    const std::string problem = close_within(cache, true, true);
    CHECK_THAT(problem, Contains("2 dirty sectors not written back to the disk"));
    REQUIRE(fs::exists(test.cache_path()));
    const DiskHeader header = test.cache_header_on_disk();
    CHECK(header.cache->clean);
    CHECK(header.cache->dirty_sectors == 2);
    CHECK(all_zero(test.raw_disk(9, 2)));
    // Closed: a FLUSH now can never be satisfied.
    Outcome flush;
    cache.when_written_back(flush.callback());
    CHECK(flush.wait(0ms) == -EIO);
}

TEST_CASE("a served cache follows its disk's keys when rotation re-wrapped them",
          "[disk][host_cache][keys]") {
    CacheTest test(EncryptionType::double_);
    HostCache& cache = test.serve_read_write();
    const auto keys = test.keys();
    const std::vector<std::string> before = keks_of(cache.header());
    CHECK(before == keks_of(test.disk));
    test.state.vault().rotate_key(vault_key);
    test.state.providers().platform().rotate();
    Rotation rotation(test.state.catalog(), test.state.sets(), test.state.providers());
    rotation.rewrap_following(vault_name, vault_key);
    rotation.rewrap_platform_layers();
    const DiskHeader rotated = test.served->persisted()->read_current_header();
    REQUIRE(keks_of(rotated) != before);

    test.served->keys().revoke("test: key disabled");
    CHECK_FALSE(cache.follow_disk_keys(rotated, test.state.providers()));  // no keys in memory
    test.served->keys().install(keys);
    CHECK(cache.follow_disk_keys(rotated, test.state.providers()));
    CHECK(keks_of(cache.header()) == keks_of(rotated));
    CHECK(keks_of(test.cache_header_on_disk()) == keks_of(rotated));
    CHECK_FALSE(cache.follow_disk_keys(rotated, test.state.providers()));  // done already
    CHECK(close_within(cache, true, false).empty());
    const DiskKeys unwrapped =
        unwrap_disk_keys(test.cache_header_on_disk(), test.state.providers(), "d-cache");
    CHECK(dek_ids_of(unwrapped.deks) == dek_ids_of(keys->cache_deks));
}
