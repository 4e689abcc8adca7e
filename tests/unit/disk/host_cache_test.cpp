// HostCache, served through ServedDisk::open with a CacheRequest: the index
// bookkeeping of the data path (lookup, reserve, fills, invalidation), the
// read-write write-back thread (dirty data to the disk, FLUSH waiters, key
// revocation), statistics, and what close() leaves in the file.
//
// The tests do the data path's cache file I/O by hand: a slot holds the
// disk's plaintext encrypted under the cache's own DEKs, the disk sector as
// the tweak, at data_offset + slot * sector_size of the cache file.

#include "disk/host_cache.hpp"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "disk/cache_file.hpp"
#include "disk/dek_id.hpp"
#include "disk/disk_fixture.hpp"
#include "disk/disk_keys.hpp"
#include "disk/header_slots.hpp"
#include "disk/rotation.hpp"
#include "disk/served_disk.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using keys::EncryptionType;

namespace {

constexpr std::uint32_t sector = 4096;
// Far more than the write-back needs here (it polls revoked keys every
// 200 ms): a wait that runs out is a failure, never a hang.
constexpr auto patience = 10s;

// What a Done callback reported, awaited with a deadline. The callback owns
// the state it sets, so it may still run after the test gave up on it.
class Outcome {
  public:
    HostCache::Done callback() const {
        return [state = state_](int result) {
            {
                const std::lock_guard lock(state->mutex);
                state->result = result;
                ++state->calls;
            }
            state->done.notify_all();
        };
    }
    // The result, or none if the callback did not run within `limit`.
    std::optional<int> wait(std::chrono::milliseconds limit = patience) const {
        std::unique_lock lock(state_->mutex);
        state_->done.wait_for(lock, limit, [this] { return state_->result.has_value(); });
        return state_->result;
    }
    int calls() const {
        const std::lock_guard lock(state_->mutex);
        return state_->calls;
    }

  private:
    struct State {
        std::mutex mutex;
        std::condition_variable done;
        std::optional<int> result;
        int calls = 0;
    };
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Polls `condition` until it holds or `limit` passes; whether it held.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds limit = patience) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// Log lines of a cache, written by its write-back thread.
struct LogLines {
    std::mutex mutex;
    std::vector<std::string> lines;
};

// A 4 MiB disk of one encryption type and the directory of its cache.
struct CacheTest {
    StateFixture state;
    DiskHeader disk;
    fs::path directory;
    std::shared_ptr<LogLines> log = std::make_shared<LogLines>();
    std::shared_ptr<ServedDisk> served;

    explicit CacheTest(EncryptionType type = EncryptionType::platform) {
        state.add_set("set", type);
        disk = state.create_disk("d", "set", 4 * mib);
        directory = state.temp() / "cache";
        fs::create_directories(directory);
    }

    fs::path cache_path() const { return CacheFile::path_for(directory, disk.uuid); }

    // Serves the disk with a cache of `spec` (none: without a cache).
    HostCache& serve(std::optional<CacheSpec> spec, std::string* notice = nullptr) {
        served.reset();
        ServeOptions options;
        options.cache = CacheRequest{directory, spec, [log = log](const std::string& line) {
                                         const std::lock_guard lock(log->mutex);
                                         log->lines.push_back(line);
                                     }};
        served = ServedDisk::open(state.catalog().get("d"), state.providers(), options, notice);
        REQUIRE(served->cache() != nullptr);
        return *served->cache();
    }
    HostCache& serve_read_write(std::uint64_t size = 256 * kib) {
        return serve(CacheSpec{size, CacheMode::read_write});
    }
    HostCache& serve_read_only(std::uint64_t size = 256 * kib) {
        return serve(CacheSpec{size, CacheMode::read_only});
    }

    std::shared_ptr<const DiskKeys> keys() {
        const std::shared_ptr<const DiskKeys> keys = served->keys().snapshot().keys;
        REQUIRE(keys != nullptr);
        return keys;
    }

    // The disk's sectors [first, first + count) as stored (ciphertext).
    std::vector<std::byte> raw_disk(std::uint64_t first, std::size_t count) const {
        const auto store = storage::FileStorage::open(state.backing_path("d"),
                                                      storage::FileStorage::Mode::read_only);
        std::vector<std::byte> bytes(count * sector);
        REQUIRE(store->read_at(bytes, disk.data_offset + first * sector) == bytes.size());
        return bytes;
    }
    // The same decrypted with the disk's own keys.
    std::vector<std::byte> disk_plaintext(const DiskKeys& keys, std::uint64_t first,
                                          std::size_t count) const {
        std::vector<std::byte> bytes = raw_disk(first, count);
        crypto::CipherStack cipher = keys.make_cipher();
        cipher.decrypt(bytes, first);
        return bytes;
    }

    DiskHeader cache_header_on_disk() const {
        return read_newest_header(*open_storage(cache_path()), "d-cache");
    }
};

// Writes `data` (whole sectors of the disk's plaintext, sectors first,
// first + 1, ...) into `slots` of the cache file as the data path does.
void write_slots(const HostCache& cache, const DiskKeys& keys, std::uint64_t first,
                 std::span<const std::uint64_t> slots, std::span<const std::byte> data) {
    REQUIRE(data.size() == slots.size() * sector);
    crypto::CipherStack cipher = keys.make_cache_cipher();
    const auto file = open_storage(cache.path());
    for (std::size_t i = 0; i < slots.size(); ++i) {
        std::vector<std::byte> bytes = copy_of(data.subspan(i * sector, sector));
        cipher.encrypt(bytes, first + i);
        file->write_at(bytes, cache.data_offset() + slots[i] * sector);
    }
}

// A client's write of `data` to sectors first, first + 1, ... through a
// read-write cache: reserved slots, written, published. Returns the slots.
std::vector<std::uint64_t> client_write(HostCache& cache, const DiskKeys& keys, std::uint64_t first,
                                        std::span<const std::byte> data) {
    std::vector<std::uint64_t> slots(data.size() / sector);
    REQUIRE(cache.reserve(slots));
    write_slots(cache, keys, first, slots, data);
    cache.publish_writes(first, slots);
    return slots;
}

// A read that missed sectors first, ... and fills the cache with `data`
// (what it read from the disk): looked up, reserved, written, published.
void fill(HostCache& cache, const DiskKeys& keys, std::uint64_t first,
          std::span<const std::byte> data) {
    std::vector<HostCache::Lookup> found(data.size() / sector);
    cache.lookup(first, found);
    std::vector<std::uint64_t> slots(found.size());
    REQUIRE(cache.reserve(slots));
    write_slots(cache, keys, first, slots, data);
    cache.publish_fill(first, slots, found);
    cache.unpin(found);
}

// Waits for every write published so far to reach the disk; the result.
std::optional<int> written_back(HostCache& cache) {
    Outcome outcome;
    cache.when_written_back(outcome.callback());
    return outcome.wait();
}

// HostCache::close, bounded: a close that does not return in time fails
// the test run instead of hanging it.
std::string close_within(HostCache& cache, bool write_back, bool remove) {
    std::promise<std::string> result;
    std::future<std::string> future = result.get_future();
    std::thread closer([&] { result.set_value(cache.close(write_back, remove)); });
    if (future.wait_for(patience) != std::future_status::ready) {
        FAIL_CHECK("HostCache::close(" << write_back << ", " << remove << ") did not return");
        std::abort();  // the thread still uses the cache: no way to go on
    }
    closer.join();
    return future.get();
}

std::vector<std::string> dek_ids(const std::vector<crypto::SecureBytes>& deks) {
    std::vector<std::string> ids;
    for (const crypto::SecureBytes& dek : deks) {
        ids.push_back(dek_id(dek));
    }
    return ids;
}

std::vector<std::string> keks_of(const DiskHeader& header) {
    std::vector<std::string> refs;
    for (const CipherLayer& layer : header.layers) {
        refs.push_back(keys::to_string(layer.kek));
    }
    return refs;
}

}  // namespace

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
        CHECK(dek_ids(opened.keys.deks) == dek_ids(keys->cache_deks));
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
    test.served->keys().revoke("test: key disabled");
    const std::vector<std::byte> data = pattern_bytes(sector, 18);
    const std::vector<std::uint64_t> slots = client_write(cache, *keys, 50, data);
    // The slot's bytes gone: the write-back cannot read them.
    const std::uint64_t file_size = fs::file_size(cache.path());
    fs::resize_file(cache.path(), cache.data_offset());
    test.served->keys().install(keys);

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
    fs::resize_file(cache.path(), file_size);
    write_slots(cache, *keys, 50, slots, data);
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
    ServeOptions options;
    options.cache = CacheRequest{test.directory, CacheSpec{256 * kib, CacheMode::read_write}, {}};
    test.served =
        ServedDisk::open(test.state.catalog().get("d"), test.state.providers(), options, nullptr);
    HostCache& cache = *test.served->cache();
    const auto keys = test.keys();
    test.served->keys().revoke("test: key disabled");
    client_write(cache, *keys, 50, pattern_bytes(sector, 19));
    fs::resize_file(cache.path(), cache.data_offset());
    test.served->keys().install(keys);
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
    CHECK(dek_ids(unwrapped.deks) == dek_ids(keys->cache_deks));
}
