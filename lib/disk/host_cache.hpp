#pragma once

// A persisted disk's host cache while the daemon serves the disk: its open
// cache file (disk/cache_file.hpp), its index behind one mutex, its
// statistics, and — in read-write mode — the thread that writes dirty
// sectors back to the disk.
//
// The data path (daemon/plain_io.cpp) does the cache file's I/O itself on
// its reactor's ring; what it asks of this class is bookkeeping, each call
// one short critical section:
//
//   read   lookup() pins the slots of the sectors cached; after reading them
//          unpin(). Missed sectors are read from the disk and may fill the
//          cache: reserve() slots, write them, publish_fill(), which drops
//          any sector written meanwhile (its write epoch moved).
//   write  read-only: the disk is written, then invalidate(). Read-write:
//          reserve() slots, write them, publish_writes(): the client's
//          reply goes out with the data only in the cache, dirty.
//   flush  when_written_back(): every write published before it is on the
//          disk (then the data path fdatasyncs the disk).
//
// The cache's ciphertext is the disk's plaintext under the cache's own DEKs,
// with the disk sector as the XTS tweak; the write-back thread decrypts it
// with those and encrypts with the disk's, both taken from the disk's
// KeySlot — so a revoked key stops the write-back too, which fails waiting
// FLUSHes with EIO and resumes, dirty data intact, when the key is back.
//
// Callbacks given to the when_*() functions run on the write-back thread
// (or on the caller's, if there is nothing to wait for) and must only hand
// the work on (Reactor::post).
//
// Thread safety: the data path functions and stats() from any thread;
// close() from one thread, once no request uses the cache.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "disk/cache_file.hpp"
#include "disk/key_slot.hpp"
#include "storage/ring_backend.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::disk {

struct CacheStats {
    CacheMode mode = CacheMode::read_only;
    std::uint64_t size = 0;
    std::uint64_t used_bytes = 0;
    std::uint64_t dirty_bytes = 0;
    std::uint64_t hits = 0;    // sectors read from the cache
    std::uint64_t misses = 0;  // sectors read from the disk
    std::uint64_t written_back_bytes = 0;
    double write_back_rate = 0;  // bytes per second over the last few seconds
    std::string file;
    std::string problem;  // the last write-back failure, while it lasts
};

// Where a served disk's sectors start in its store, and how it is written.
struct CacheDiskAccess {
    std::unique_ptr<storage::Storage> store;  // read-write, for the write-back
    std::uint64_t data_offset = 0;
};

class HostCache {
  public:
    // What lookup() found for one sector.
    struct Lookup {
        std::optional<std::uint64_t> slot;  // pinned if found
        std::uint64_t epoch = 0;            // the sector's write epoch then
    };
    using Done = std::function<void(int result)>;  // 0 or -errno
    using Log = std::function<void(const std::string&)>;

    // Takes over an opened cache file for disk `disk_name` whose keys are in
    // `keys` (cache_deks included); `ring_backend` is the same file opened
    // for the data path. A read-write cache starts its write-back thread.
    HostCache(std::string disk_name, std::filesystem::path path, OpenedCache opened,
              std::unique_ptr<storage::RingBackend> ring_backend, CacheDiskAccess disk,
              KeySlot& keys, Log log);
    // Closes the cache as close(false, false) does if close() did not run
    // (dirty data stays findable), logging what went wrong.
    ~HostCache();
    HostCache(const HostCache&) = delete;
    HostCache& operator=(const HostCache&) = delete;

    CacheMode mode() const noexcept { return mode_; }
    const std::filesystem::path& path() const noexcept { return path_; }
    const storage::RingBackend& backend() const noexcept { return *ring_backend_; }
    // Where slot 0 starts in the cache file.
    std::uint64_t data_offset() const noexcept { return data_offset_; }
    std::uint64_t slot_count() const noexcept { return slot_count_; }
    // The cache file's header as written when it was opened.
    const DiskHeader& header() const noexcept { return header_; }

    // --- data path
    // Looks up sectors first, first + 1, ... (one per element of `found`);
    // counts hits and misses.
    void lookup(std::uint64_t first, std::span<Lookup> found);
    void unpin(std::span<const Lookup> found);
    // Reserves one slot per element of `slots`: all of them, or none (false).
    bool reserve(std::span<std::uint64_t> slots);
    void cancel(std::span<const std::uint64_t> slots);
    // Reserved `slots` hold sectors first, first + 1, ... read from the disk;
    // each is published unless written since `looked_up` (or cached by now).
    void publish_fill(std::uint64_t first, std::span<const std::uint64_t> slots,
                      std::span<const Lookup> looked_up);
    // Reserved `slots` hold a client's write of sectors first, first + 1, ...
    void publish_writes(std::uint64_t first, std::span<const std::uint64_t> slots);
    // Sectors [first, end) were or are being written around the cache (or
    // trimmed): forget them, dirty or not, and fail fills in flight.
    void invalidate(std::uint64_t first, std::uint64_t end);

    // `done` once every write published so far is on the disk.
    void when_written_back(Done done);
    // `done` once reserve() may succeed again, or with -EIO if it cannot.
    void when_slots_free(Done done);
    // `done` once no write-back is in flight (writes to the disk that follow
    // cannot be overtaken by an older write-back).
    void when_write_back_idle(Done done);

    CacheStats stats() const;

    // Re-wraps the cache's DEKs under the key versions of `disk` (the disk's
    // header now) if rotation changed those; whether it did. Needs the keys
    // in memory: false while they are revoked. Control thread only, like
    // header() and close(). Throws DiskError or KeysError.
    bool follow_disk_keys(const DiskHeader& disk, keys::KeyProviders& providers);

    // Writes back every dirty sector first if `write_back` (read-write mode;
    // a failure is reported and the dirty sectors stay), stops the write-back
    // thread, and closes the file cleanly (disk/cache_file.hpp); removes it
    // if `remove` and nothing dirty is left in it. Returns what went wrong,
    // or an empty string. Call once, when nothing else uses the cache.
    std::string close(bool write_back, bool remove);

  private:
    struct FlushWaiter {
        std::uint64_t sequence;
        Done done;
    };
    void run_write_back();
    // Writes `batch` to the disk; 0 or -errno.
    int write_batch(const std::vector<CacheIndex::SlotOfSector>& batch,
                    std::vector<std::byte>& buffer, crypto::CipherStack& cache_cipher,
                    crypto::CipherStack& disk_cipher, std::string& failure);
    // Completes the waiters whose condition holds now (all of them with
    // `failure` if nonzero), moving their callbacks to `ready`.
    void collect_waiters(int failure, std::vector<std::function<void()>>& ready);
    std::uint64_t& epoch_of(std::uint64_t sector) noexcept {
        return epochs_[sector % epochs_.size()];
    }
    void stop_write_back();

    std::string disk_name_;
    std::filesystem::path path_;
    CacheMode mode_;
    DiskHeader header_;
    std::unique_ptr<storage::Storage> file_;  // the cache file, synchronous
    std::unique_ptr<storage::RingBackend> ring_backend_;
    CacheDiskAccess disk_;
    KeySlot& keys_;
    Log log_;
    std::uint32_t sector_size_;
    std::uint64_t data_offset_;
    std::uint64_t slot_count_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    CacheIndex index_;                                  // guarded by mutex_
    std::vector<std::uint64_t> epochs_;                 // guarded: write epochs by sector hash
    std::uint64_t sequence_ = 0;                        // guarded: writes published
    std::vector<FlushWaiter> flush_waiters_;            // guarded
    std::vector<Done> space_waiters_;                   // guarded
    std::vector<Done> idle_waiters_;                    // guarded
    bool batch_in_flight_ = false;                      // guarded
    bool stopping_ = false;                             // guarded
    std::string problem_;                               // guarded
    std::uint64_t written_back_bytes_ = 0;              // guarded
    double write_back_rate_ = 0;                        // guarded
    std::chrono::steady_clock::time_point rate_since_;  // guarded
    std::uint64_t rate_bytes_ = 0;                      // guarded

    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
    std::thread write_back_;
    bool closed_ = false;
};

}  // namespace hostcrypt::disk
