#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace hostcrypt {

using TimePoint = std::chrono::system_clock::time_point;
// Where time comes from; tests inject fixed or stepping clocks.
using ClockFunction = std::function<TimePoint()>;

inline TimePoint system_now() {
    return std::chrono::system_clock::now();
}

// RFC 3339 in UTC with whole seconds: "2026-11-23T08:36:45Z".
std::string format_utc(TimePoint time);
// Parses what format_utc writes; throws hostcrypt::Error otherwise.
TimePoint parse_utc(std::string_view text);

}  // namespace hostcrypt
