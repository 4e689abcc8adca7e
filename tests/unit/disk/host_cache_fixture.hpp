#pragma once

// A served disk with a host cache for the HostCache tests, and the data
// path's cache file I/O done by hand: a slot holds the disk's plaintext
// encrypted under the cache's own DEKs, the disk sector as the tweak, at
// data_offset + slot * sector_size of the cache file.

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
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "disk/cache_file.hpp"
#include "disk/disk_fixture.hpp"
#include "disk/disk_keys.hpp"
#include "disk/header_slots.hpp"
#include "disk/host_cache.hpp"
#include "disk/served_disk.hpp"

namespace hostcrypt::disk::test {

inline constexpr std::uint32_t sector = 4096;
// Far more than the write-back needs here (it polls revoked keys every
// 200 ms): a wait that runs out is a failure, never a hang.
inline constexpr auto patience = std::chrono::seconds(10);

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
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = patience) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
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

    explicit CacheTest(keys::EncryptionType type = keys::EncryptionType::platform) {
        state.add_set("set", type);
        disk = state.create_disk("d", "set", 4 * mib);
        directory = state.temp() / "cache";
        fs::create_directories(directory);
    }

    fs::path cache_path() const { return CacheFile::path_for(directory, disk.uuid); }

    // Serves the disk with a cache of `spec` (none: without a cache), its
    // log lines kept in `log` unless `without_log`.
    HostCache& serve(std::optional<CacheSpec> spec, std::string* notice = nullptr,
                     bool without_log = false) {
        served.reset();
        ServeOptions options;
        options.cache = CacheRequest{directory, spec, {}};
        if (!without_log) {
            options.cache->log = [log = log](const std::string& line) {
                const std::lock_guard lock(log->mutex);
                log->lines.push_back(line);
            };
        }
        served = ServedDisk::open(state.catalog().get("d"), state.providers(), options, notice);
        REQUIRE(served->cache() != nullptr);
        return *served->cache();
    }
    HostCache& serve_read_write(std::uint64_t size = 256 * kib) {
        return serve(CacheSpec{size, CacheMode::read_write});
    }
    HostCache& serve_read_write_without_log() {
        return serve(CacheSpec{256 * kib, CacheMode::read_write}, nullptr, true);
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
inline void write_slots(const HostCache& cache, const DiskKeys& keys, std::uint64_t first,
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
inline std::vector<std::uint64_t> client_write(HostCache& cache, const DiskKeys& keys,
                                               std::uint64_t first,
                                               std::span<const std::byte> data) {
    std::vector<std::uint64_t> slots(data.size() / sector);
    REQUIRE(cache.reserve(slots));
    write_slots(cache, keys, first, slots, data);
    cache.publish_writes(first, slots);
    return slots;
}

// A read that missed sectors first, ... and fills the cache with `data`
// (what it read from the disk): looked up, reserved, written, published.
inline void fill(HostCache& cache, const DiskKeys& keys, std::uint64_t first,
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
inline std::optional<int> written_back(HostCache& cache) {
    Outcome outcome;
    cache.when_written_back(outcome.callback());
    return outcome.wait();
}

// HostCache::close, bounded: a close that does not return in time fails
// the test run instead of hanging it.
inline std::string close_within(HostCache& cache, bool write_back, bool remove) {
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

// A client's write of `data` to sectors first, ... that the write-back
// cannot read back: written while the keys are revoked (so nothing is
// written back yet), then the cache file cut short before its slots, then
// the keys back. What it took, to make the file whole again.
struct UnreadableWrite {
    std::vector<std::uint64_t> slots;
    std::uint64_t file_size = 0;  // before it was cut
};
inline UnreadableWrite unreadable_dirty_write(CacheTest& test, HostCache& cache,
                                              const std::shared_ptr<const DiskKeys>& keys,
                                              std::uint64_t first,
                                              std::span<const std::byte> data) {
    test.served->keys().revoke("test: key disabled");
    UnreadableWrite write{client_write(cache, *keys, first, data), fs::file_size(cache.path())};
    fs::resize_file(cache.path(), cache.data_offset());
    test.served->keys().install(keys);
    return write;
}

}  // namespace hostcrypt::disk::test
