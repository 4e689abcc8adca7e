#pragma once

// What a served disk has done, for `hostcrypt status`. Every reactor counts
// into the same disk, so the counters are relaxed atomics: one uncontended
// add per request, no lock, and readers get a value that was true at some
// recent moment.

#include <atomic>
#include <cstdint>

namespace hostcrypt::disk {

struct DiskCounters {
    std::atomic<std::uint64_t> connections{0};  // open now
    std::atomic<std::uint64_t> reads{0};
    std::atomic<std::uint64_t> writes{0};  // WRITE requests (not trims or zeroes)
    std::atomic<std::uint64_t> bytes_read{0};
    std::atomic<std::uint64_t> bytes_written{0};
    std::atomic<std::uint64_t> errors{0};  // requests answered with an error

    static void add(std::atomic<std::uint64_t>& counter, std::uint64_t amount = 1) noexcept {
        counter.fetch_add(amount, std::memory_order_relaxed);
    }
    static std::uint64_t read(const std::atomic<std::uint64_t>& counter) noexcept {
        return counter.load(std::memory_order_relaxed);
    }
};

}  // namespace hostcrypt::disk
