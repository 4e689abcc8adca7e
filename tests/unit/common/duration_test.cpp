#include "common/duration.hpp"

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "common/error.hpp"

using Catch::Matchers::Contains;
using hostcrypt::format_duration;
using hostcrypt::max_duration;
using hostcrypt::parse_duration;
using namespace std::chrono_literals;

TEST_CASE("durations take a whole number and one of four units", "[duration]") {
    CHECK(parse_duration("3600s") == 3600s);
    CHECK(parse_duration("30m") == 30min);
    CHECK(parse_duration("12h") == 12h);
    CHECK(parse_duration("90d") == 90 * 24h);
    CHECK(parse_duration("1s") == 1s);
    CHECK(parse_duration("007m") == 7min);
}

TEST_CASE("durations are formatted in the largest exact unit", "[duration]") {
    CHECK(format_duration(90 * 24h) == "90d");
    CHECK(format_duration(36h) == "36h");
    CHECK(format_duration(90min) == "90m");
    CHECK(format_duration(3601s) == "3601s");
    CHECK(format_duration(0s) == "0s");
    for (const char* text : {"1s", "59s", "1m", "61m", "1h", "25h", "1d", "36500d"}) {
        CHECK(format_duration(parse_duration(text)) == text);
    }
}

TEST_CASE("the longest duration is a century", "[duration]") {
    CHECK(parse_duration("36500d") == max_duration);
    CHECK(parse_duration("876000h") == max_duration);
    CHECK(parse_duration("3153600000s") == max_duration);
}

TEST_CASE("durations that are not whole positive numbers with a unit are refused",
          "[duration][errors]") {
    const auto refused = [](const std::string& text, const std::string& why) {
        INFO(text);
        CHECK_THROWS_AS(parse_duration(text), hostcrypt::Error);
        CHECK_THROWS_WITH(
            parse_duration(text),
            Contains('"' + text + "\" is not a duration: " + why) && Contains("like 90d or 12h"));
    };
    refused("", "it is empty");
    refused("3600", "it has no unit");
    refused("0d", "it is zero");
    refused("000s", "it is zero");
    refused("-5d", "it is negative");
    refused("+5d", "it does not start with a number");
    refused(" 5d", "it does not start with a number");
    refused("d", "it does not start with a number");
    refused("1.5h", "it has a fraction (use a smaller unit: 90m, not 1.5h)");
    refused("1,5h", "it has a fraction");
    refused("5 d", "\" d\" is not a unit");
    refused("5D", "\"D\" is not a unit");
    refused("5w", "\"w\" is not a unit");
    refused("1h30m", "\"h30m\" is not a unit");
    refused("5ms", "\"ms\" is not a unit");
    refused("36501d", "it is longer than the limit of 36500d");
    refused("3153600001s", "it is longer than the limit of 3153600000s");
    refused("99999999999999999999999d", "it is longer than the limit of 36500d");
}
