#pragma once

// Serializes read-modify-write of partial sectors. A write that covers only
// part of a crypto sector must read, decrypt, patch, encrypt and write the
// whole sector; two such writes to different bytes of one sector must not
// interleave, or the later write-back loses the earlier one's bytes. Writes
// of whole sectors never take this lock (see docs/architecture.md for why
// that is safe), so the steady state of aligned I/O stays lock-free.
//
// Thread safety: every member may be called from any thread. Connections of
// one disk live on different reactors, so a waiter is woken by whichever
// thread releases the range, through the `wake` function it left.

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace hostcrypt::disk {

class SectorRangeLock {
  public:
    // Half-open range of sector numbers.
    struct Range {
        std::uint64_t first = 0;
        std::uint64_t end = 0;
        bool overlaps(const Range& other) const noexcept {
            return first < other.end && other.first < end;
        }
    };

    // Takes `range` and returns true if nothing overlapping is held;
    // otherwise keeps `wake` and returns false. `wake` is called once, from
    // the thread that releases an overlapping range; the caller then tries
    // again.
    bool try_lock(Range range, std::function<void()> wake);
    void unlock(Range range);

  private:
    std::mutex mutex_;
    std::vector<Range> held_;                     // guarded by mutex_
    std::vector<std::function<void()>> waiting_;  // guarded by mutex_
};

}  // namespace hostcrypt::disk
