#pragma once

// A std::chrono clock on CLOCK_BOOTTIME: monotonic like steady_clock (nobody
// sets it, NTP does not step it), and unlike steady_clock it keeps counting
// while the machine is suspended. For deadlines that mean "this much real
// time from now", such as a grace period.

#include <chrono>
#include <ctime>

namespace hostcrypt {

struct BootClock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<BootClock>;
    static constexpr bool is_steady = true;

    // CLOCK_BOOTTIME exists on every kernel this project runs on (2.6.39+);
    // clock_gettime fails only for an unknown clock or a bad pointer.
    static time_point now() noexcept {
        timespec now{};
        ::clock_gettime(CLOCK_BOOTTIME, &now);
        return time_point(std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec));
    }
};

}  // namespace hostcrypt
