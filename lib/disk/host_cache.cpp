#include "disk/host_cache.hpp"

#include <cerrno>
#include <cstring>
#include <future>

#include <fmt/format.h>

#include "common/error.hpp"
#include "disk/disk_error.hpp"

namespace hostcrypt::disk {

namespace {

// Sectors written back per batch: 1 MiB at 4096-byte sectors.
constexpr std::size_t batch_slots = 256;
// Write epochs are kept per bucket of sectors, not per sector: a fill fails
// (harmlessly) when any sector of its bucket was written meanwhile.
constexpr std::size_t epoch_buckets = 4096;
// How long the write-back waits before trying again after a failure, and
// how often it looks at the keys while they are revoked.
constexpr auto retry_after = std::chrono::seconds(1);
constexpr auto keys_poll = std::chrono::milliseconds(200);
// Waiters for free slots are looked at this often even when no write-back
// runs: slots also come free when readers unpin them.
constexpr auto space_poll = std::chrono::milliseconds(20);
constexpr auto rate_window = std::chrono::seconds(2);

int errno_of(const std::exception& error) {
    if (const auto* system = dynamic_cast<const std::system_error*>(&error)) {
        return system->code().value() != 0 ? system->code().value() : EIO;
    }
    return EIO;
}

}  // namespace

HostCache::HostCache(std::string disk_name, std::filesystem::path path, OpenedCache opened,
                     std::unique_ptr<storage::RingBackend> ring_backend, CacheDiskAccess disk,
                     KeySlot& keys, Log log)
    : disk_name_(std::move(disk_name)),
      path_(std::move(path)),
      mode_(opened.header.cache->mode),
      header_(std::move(opened.header)),
      file_(std::move(opened.storage)),
      ring_backend_(std::move(ring_backend)),
      disk_(std::move(disk)),
      keys_(keys),
      // Without a sink, lines go nowhere rather than throw on a thread.
      log_(log ? std::move(log) : [](const std::string&) {}),
      sector_size_(header_.sector_size),
      data_offset_(header_.data_offset),
      slot_count_(header_.sector_count()),
      index_(std::move(opened.index)),
      epochs_(epoch_buckets, 0),
      rate_since_(std::chrono::steady_clock::now()) {
    if (mode_ == CacheMode::read_write) {
        write_back_ = std::thread([this] { run_write_back(); });
    }
}

HostCache::~HostCache() {
    // Every path of the daemon closes its caches; this is the backstop that
    // keeps dirty data findable if one did not.
    try {
        if (const std::string problem = close(false, false); !problem.empty()) {
            log_(fmt::format("cache of disk {}: {}", disk_name_, problem));
        }
    } catch (const std::exception& error) {
        log_(fmt::format("cache of disk {}: not closed: {}", disk_name_, error.what()));
    }
}

void HostCache::stop_write_back() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (write_back_.joinable()) {
        write_back_.join();
    }
}

void HostCache::lookup(std::uint64_t first, std::span<Lookup> found) {
    std::uint64_t hits = 0;
    {
        const std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < found.size(); ++i) {
            const std::uint64_t sector = first + i;
            // A closed cache serves nothing more.
            found[i].slot = stopping_ ? std::nullopt : index_.find(sector);
            found[i].epoch = epoch_of(sector);
            if (found[i].slot) {
                index_.pin(*found[i].slot);
                ++hits;
            }
        }
    }
    hits_.fetch_add(hits, std::memory_order_relaxed);
    misses_.fetch_add(found.size() - hits, std::memory_order_relaxed);
}

void HostCache::unpin(std::span<const Lookup> found) {
    const std::lock_guard lock(mutex_);
    for (const Lookup& entry : found) {
        if (entry.slot) {
            index_.unpin(*entry.slot);
        }
    }
}

bool HostCache::reserve(std::span<std::uint64_t> slots) {
    const std::lock_guard lock(mutex_);
    if (stopping_) {
        return false;
    }
    for (std::size_t i = 0; i < slots.size(); ++i) {
        const std::optional<std::uint64_t> slot = index_.reserve();
        if (!slot) {
            for (std::size_t j = 0; j < i; ++j) {
                index_.cancel(slots[j]);
            }
            return false;
        }
        slots[i] = *slot;
    }
    return true;
}

void HostCache::cancel(std::span<const std::uint64_t> slots) {
    const std::lock_guard lock(mutex_);
    for (const std::uint64_t slot : slots) {
        index_.cancel(slot);
    }
}

void HostCache::publish_fill(std::uint64_t first, std::span<const std::uint64_t> slots,
                             std::span<const Lookup> looked_up) {
    const std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < slots.size(); ++i) {
        const std::uint64_t sector = first + i;
        // Written since it was read from the disk, or cached by another
        // read meanwhile: what we read may be older than what is there now.
        if (epoch_of(sector) != looked_up[i].epoch || index_.find(sector)) {
            index_.cancel(slots[i]);
        } else {
            index_.publish(slots[i], sector, false, 0);
        }
    }
}

void HostCache::publish_writes(std::uint64_t first, std::span<const std::uint64_t> slots) {
    {
        const std::lock_guard lock(mutex_);
        ++sequence_;
        for (std::size_t i = 0; i < slots.size(); ++i) {
            ++epoch_of(first + i);
            index_.publish(slots[i], first + i, true, sequence_);
        }
    }
    wake_.notify_all();
}

void HostCache::invalidate(std::uint64_t first, std::uint64_t end) {
    const std::lock_guard lock(mutex_);
    if (end - first >= epochs_.size()) {
        for (std::uint64_t& epoch : epochs_) {
            ++epoch;
        }
    } else {
        for (std::uint64_t sector = first; sector < end; ++sector) {
            ++epoch_of(sector);
        }
    }
    index_.forget_range(first, end);
}

void HostCache::when_written_back(Done done) {
    {
        const std::lock_guard lock(mutex_);
        if (mode_ == CacheMode::read_write && stopping_ && index_.dirty_slots() > 0) {
            done(-EIO);  // nothing will write it back any more
            return;
        }
        if (mode_ == CacheMode::read_write) {
            const std::optional<std::uint64_t> oldest = index_.oldest_unwritten();
            if (oldest && *oldest <= sequence_) {
                flush_waiters_.push_back({sequence_, std::move(done)});
                wake_.notify_all();
                return;
            }
        }
    }
    done(0);
}

void HostCache::when_slots_free(Done done) {
    {
        const std::lock_guard lock(mutex_);
        if (stopping_) {
            done(-EIO);
            return;
        }
        if (mode_ == CacheMode::read_write && index_.reusable_slots() == 0) {
            space_waiters_.push_back(std::move(done));
            wake_.notify_all();
            return;
        }
    }
    done(0);
}

void HostCache::when_write_back_idle(Done done) {
    {
        const std::lock_guard lock(mutex_);
        if (batch_in_flight_) {
            idle_waiters_.push_back(std::move(done));
            return;
        }
    }
    done(0);
}

void HostCache::collect_waiters(int failure, std::vector<std::function<void()>>& ready) {
    const std::optional<std::uint64_t> oldest = index_.oldest_unwritten();
    for (auto waiter = flush_waiters_.begin(); waiter != flush_waiters_.end();) {
        if (failure != 0 || !oldest || *oldest > waiter->sequence) {
            ready.push_back([done = std::move(waiter->done), failure] { done(failure); });
            waiter = flush_waiters_.erase(waiter);
        } else {
            ++waiter;
        }
    }
    if (failure != 0 || index_.reusable_slots() > 0) {
        for (Done& done : space_waiters_) {
            ready.push_back([done = std::move(done), failure] { done(failure); });
        }
        space_waiters_.clear();
    }
    if (!batch_in_flight_) {
        for (Done& done : idle_waiters_) {
            ready.push_back([done = std::move(done)] { done(0); });
        }
        idle_waiters_.clear();
    }
}

int HostCache::write_batch(const std::vector<CacheIndex::SlotOfSector>& batch,
                           std::vector<std::byte>& buffer, crypto::CipherStack& cache_cipher,
                           crypto::CipherStack& disk_cipher, std::string& failure) {
    try {
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const std::span<std::byte> sector(buffer.data() + i * sector_size_, sector_size_);
            const std::size_t got =
                file_->read_at(sector, data_offset_ + batch[i].slot * sector_size_);
            if (got != sector_size_) {
                failure =
                    fmt::format("cache file {} ends before slot {}", path_.string(), batch[i].slot);
                return -EIO;
            }
            cache_cipher.decrypt(sector, batch[i].sector);
            disk_cipher.encrypt(sector, batch[i].sector);
        }
        // Runs of consecutive sectors go out as one write (the batch is
        // sorted), all runs at once: a slow store is bound by its latency.
        std::vector<storage::Storage::Piece> pieces;
        std::size_t run = 0;
        for (std::size_t i = 1; i <= batch.size(); ++i) {
            if (i == batch.size() || batch[i].sector != batch[i - 1].sector + 1) {
                pieces.push_back({std::span<const std::byte>(buffer.data() + run * sector_size_,
                                                             (i - run) * sector_size_),
                                  disk_.data_offset + batch[run].sector * sector_size_});
                run = i;
            }
        }
        disk_.store->write_many(pieces);
        return 0;
    } catch (const std::exception& error) {
        failure = error.what();
        return -errno_of(error);
    }
}

void HostCache::run_write_back() {
    std::vector<std::byte> buffer(batch_slots * sector_size_);
    std::optional<crypto::CipherStack> cache_cipher;
    std::optional<crypto::CipherStack> disk_cipher;
    std::uint64_t generation = 0;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (keys_.generation() != generation) {
            const KeySlot::Snapshot snapshot = keys_.snapshot();
            cache_cipher.reset();
            disk_cipher.reset();
            if (snapshot.keys) {
                cache_cipher.emplace(snapshot.keys->make_cache_cipher());
                disk_cipher.emplace(snapshot.keys->make_cipher());
            }
            generation = snapshot.generation;
        }
        std::vector<std::function<void()>> ready;
        if (!cache_cipher) {
            // Revoked: nothing can be written back, and nobody may wait for it.
            collect_waiters(-EIO, ready);
            lock.unlock();
            for (auto& call : ready) {
                call();
            }
            lock.lock();
            wake_.wait_for(lock, keys_poll, [this] { return stopping_; });
            continue;
        }
        const std::vector<CacheIndex::SlotOfSector> batch = index_.start_write_back(batch_slots);
        if (batch.empty()) {
            collect_waiters(0, ready);
            if (!ready.empty()) {
                lock.unlock();
                for (auto& call : ready) {
                    call();
                }
                lock.lock();
                continue;
            }
            const auto wait = space_waiters_.empty() ? keys_poll : space_poll;
            wake_.wait_for(lock, wait, [this] {
                return stopping_ || index_.dirty_slots() > 0 || !flush_waiters_.empty();
            });
            continue;
        }
        batch_in_flight_ = true;
        lock.unlock();
        std::string failure;
        const int result = write_batch(batch, buffer, *cache_cipher, *disk_cipher, failure);
        lock.lock();
        batch_in_flight_ = false;
        for (const CacheIndex::SlotOfSector& entry : batch) {
            index_.finish_write_back(entry.slot, result == 0);
        }
        if (result == 0) {
            const std::uint64_t bytes = batch.size() * sector_size_;
            written_back_bytes_ += bytes;
            rate_bytes_ += bytes;
            const auto now = std::chrono::steady_clock::now();
            if (now - rate_since_ >= rate_window) {
                write_back_rate_ = static_cast<double>(rate_bytes_) /
                                   std::chrono::duration<double>(now - rate_since_).count();
                rate_since_ = now;
                rate_bytes_ = 0;
            }
            if (!problem_.empty()) {
                problem_.clear();
                ready.push_back([this] {
                    log_(fmt::format("cache of disk {}: writing back again", disk_name_));
                });
            }
        }
        if (result != 0) {
            problem_ = failure;
        }
        collect_waiters(result, ready);
        lock.unlock();
        for (auto& call : ready) {
            call();
        }
        if (!failure.empty()) {
            log_(
                fmt::format("cache of disk {}: write-back failed, {} dirty sectors stay in the "
                            "cache and are tried again: {}",
                            disk_name_, batch.size(), failure));
        }
        lock.lock();
        if (result != 0) {
            wake_.wait_for(lock, retry_after, [this] { return stopping_; });
        }
    }
    // Stopping: nobody waits for a write-back that will not come.
    std::vector<std::function<void()>> ready;
    collect_waiters(-EIO, ready);
    lock.unlock();
    for (auto& call : ready) {
        call();
    }
}

bool HostCache::follow_disk_keys(const DiskHeader& disk, keys::KeyProviders& providers) {
    const std::shared_ptr<const DiskKeys> keys = keys_.snapshot().keys;
    if (!keys || closed_) {
        return false;
    }
    // The write-back reads slots through the same descriptor meanwhile;
    // headers and slots never overlap, and pread/pwrite keep no position.
    return CacheFile::follow_disk_keys(*file_, header_, disk, keys->cache_deks, providers,
                                       disk_name_);
}

CacheStats HostCache::stats() const {
    CacheStats stats;
    stats.mode = mode_;
    stats.size = slot_count_ * sector_size_;
    stats.hits = hits_.load(std::memory_order_relaxed);
    stats.misses = misses_.load(std::memory_order_relaxed);
    stats.file = path_.string();
    const std::lock_guard lock(mutex_);
    stats.used_bytes = index_.used_slots() * sector_size_;
    stats.dirty_bytes = index_.dirty_slots() * sector_size_;
    stats.written_back_bytes = written_back_bytes_;
    const auto elapsed = std::chrono::steady_clock::now() - rate_since_;
    // Quiet for a while: the rate decays instead of standing still.
    stats.write_back_rate =
        elapsed < rate_window
            ? write_back_rate_
            : static_cast<double>(rate_bytes_) / std::chrono::duration<double>(elapsed).count();
    stats.problem = problem_;
    return stats;
}

std::string HostCache::close(bool write_back, bool remove) {
    if (closed_) {
        return {};
    }
    closed_ = true;
    std::string problem;
    if (write_back && mode_ == CacheMode::read_write) {
        std::promise<int> written;
        when_written_back([&written](int result) { written.set_value(result); });
        if (const int result = written.get_future().get(); result != 0) {
            const std::lock_guard lock(mutex_);
            problem = fmt::format(
                "{} dirty sectors not written back to the disk ({}); they stay "
                "in the cache",
                index_.dirty_slots(), problem_.empty() ? std::strerror(-result) : problem_);
        }
    }
    stop_write_back();
    try {
        if (disk_.store && index_.dirty_slots() == 0) {
            disk_.store->sync();  // what was written back is durable before the cache forgets it
        }
        if (remove && index_.dirty_slots() == 0) {
            file_.reset();
            std::filesystem::remove(path_);
            return problem;
        }
        CacheFile::close_clean(*file_, header_, index_, disk_name_);
    } catch (const std::exception& error) {
        problem += problem.empty() ? "" : "; ";
        problem +=
            fmt::format("cache file {} not closed cleanly: {}", path_.string(), error.what());
    }
    return problem;
}

}  // namespace hostcrypt::disk
