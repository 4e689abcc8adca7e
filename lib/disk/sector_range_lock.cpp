#include "disk/sector_range_lock.hpp"

#include <algorithm>

namespace hostcrypt::disk {

bool SectorRangeLock::try_lock(Range range, std::function<void()> wake) {
    std::lock_guard lock(mutex_);
    const bool busy = std::any_of(held_.begin(), held_.end(),
                                  [&](const Range& held) { return held.overlaps(range); });
    if (busy) {
        waiting_.push_back(std::move(wake));
        return false;
    }
    held_.push_back(range);
    return true;
}

void SectorRangeLock::unlock(Range range) {
    std::vector<std::function<void()>> to_wake;
    {
        std::lock_guard lock(mutex_);
        auto held = std::find_if(held_.begin(), held_.end(), [&](const Range& candidate) {
            return candidate.first == range.first && candidate.end == range.end;
        });
        if (held != held_.end()) {
            held_.erase(held);
        }
        // Every waiter retries: few partial writes wait at once, and a waiter
        // that loses the race simply waits again.
        to_wake.swap(waiting_);
    }
    for (auto& wake : to_wake) {
        wake();
    }
}

}  // namespace hostcrypt::disk
