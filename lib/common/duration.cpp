#include "common/duration.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <system_error>

#include <fmt/format.h>

#include "common/error.hpp"

namespace hostcrypt {

namespace {

using std::chrono::seconds;

struct Unit {
    char suffix;
    seconds length;
};

// Largest first, for format_duration.
constexpr std::array<Unit, 4> units{{{'d', std::chrono::hours(24)},
                                     {'h', std::chrono::hours(1)},
                                     {'m', std::chrono::minutes(1)},
                                     {'s', seconds(1)}}};

[[noreturn]] void reject(std::string_view text, std::string_view why) {
    throw Error(
        fmt::format("\"{}\" is not a duration: {}; write a whole number and a unit "
                    "(s, m, h or d), like 90d or 12h",
                    text, why));
}

}  // namespace

seconds parse_duration(std::string_view text) {
    if (text.empty()) {
        reject(text, "it is empty");
    }
    if (text.front() == '-') {
        reject(text, "it is negative");
    }
    const std::size_t digits = text.find_first_not_of("0123456789");
    if (digits == 0) {
        reject(text, "it does not start with a number");
    }
    if (digits == std::string_view::npos) {
        reject(text, "it has no unit");
    }
    const std::string_view unit_text = text.substr(digits);
    if (unit_text.front() == '.' || unit_text.front() == ',') {
        reject(text, "it has a fraction (use a smaller unit: 90m, not 1.5h)");
    }
    const Unit* unit = nullptr;
    for (const Unit& candidate : units) {
        if (unit_text.size() == 1 && unit_text[0] == candidate.suffix) {
            unit = &candidate;
        }
    }
    if (unit == nullptr) {
        reject(text, fmt::format("\"{}\" is not a unit", unit_text));
    }
    std::int64_t count = 0;
    const std::from_chars_result parsed = std::from_chars(text.data(), text.data() + digits, count);
    const std::int64_t limit = max_duration / unit->length;
    if (parsed.ec == std::errc::result_out_of_range || count > limit) {
        reject(text, fmt::format("it is longer than the limit of {}{}", limit, unit->suffix));
    }
    if (count == 0) {
        reject(text, "it is zero");
    }
    return unit->length * count;
}

std::string format_duration(seconds duration) {
    for (const Unit& unit : units) {
        if (duration.count() != 0 && duration % unit.length == seconds::zero()) {
            return fmt::format("{}{}", duration / unit.length, unit.suffix);
        }
    }
    return fmt::format("{}s", duration.count());
}

}  // namespace hostcrypt
