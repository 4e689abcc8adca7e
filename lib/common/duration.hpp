#pragma once

// Durations as people write them in config files and on command lines:
// "90d", "12h", "30m", "3600s".

#include <chrono>
#include <string>
#include <string_view>

namespace hostcrypt {

// A positive whole number followed by one unit: s, m, h or d. Throws
// hostcrypt::Error naming the text for anything else: no unit, zero, a sign,
// a fraction, spaces, or more than max_duration.
std::chrono::seconds parse_duration(std::string_view text);

// Durations are compared with system_clock time points, which count
// nanoseconds in 64 bits (about 292 years); a century keeps every comparison
// far from overflow and is more than any key rotation period needs.
inline constexpr std::chrono::seconds max_duration = std::chrono::hours(24) * 36500;

// In the largest unit that divides it exactly, so parse_duration reads it
// back: 7776000s -> "90d", 5400s -> "90m", 90s -> "90s".
std::string format_duration(std::chrono::seconds duration);

}  // namespace hostcrypt
