#include "common/boot_clock.hpp"

#include <chrono>

#include <catch2/catch.hpp>

using hostcrypt::BootClock;

TEST_CASE("the boot clock counts from boot and never goes back", "[boot-clock]") {
    // CLOCK_BOOTTIME is CLOCK_MONOTONIC plus the time spent suspended, so
    // read after it, it is never behind: a clock read wrongly (zero, or the
    // wall clock's epoch) fails one of these.
    const auto monotonic = std::chrono::steady_clock::now().time_since_epoch();
    const BootClock::time_point first = BootClock::now();
    CHECK(first.time_since_epoch() >= monotonic);
    CHECK(first.time_since_epoch() < std::chrono::hours(24 * 365 * 10));
    CHECK(BootClock::now() >= first);
    static_assert(BootClock::is_steady);
}
