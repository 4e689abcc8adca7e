#include "common/utc_time.hpp"

#include <ctime>

#include <fmt/format.h>

#include "common/error.hpp"

namespace hostcrypt {

std::string format_utc(TimePoint time) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
}

TimePoint parse_utc(std::string_view text) {
    std::tm parts{};
    const std::string copy(text);
    const char* end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parts);
    if (end == nullptr || *end != '\0') {
        throw Error(fmt::format("'{}' is not a UTC time like 2026-01-31T23:59:00Z", text));
    }
    const TimePoint time = std::chrono::system_clock::from_time_t(timegm(&parts));
    // timegm rolls impossible dates over (February 30th becomes March 2nd);
    // only a time that formats back to the same text is the one meant.
    if (format_utc(time) != copy) {
        throw Error(fmt::format("'{}' is not a valid date and time", text));
    }
    return time;
}

}  // namespace hostcrypt
