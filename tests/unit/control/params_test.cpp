#include "control/params.hpp"

#include <cstdint>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "control/control_error.hpp"
#include "control/exit_codes.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::control;
using Catch::Matchers::Equals;
using hostcrypt::parse_utc;
using hostcrypt::test::thrown;
using nlohmann::json;

namespace {

// Runs `action`, which must refuse the params, and checks the error's class
// and its exact message.
template <typename Action>
void check_invalid(Action&& action, const std::string& message) {
    const ControlError error = thrown<ControlError>(std::forward<Action>(action));
    CHECK(error.error_class().code == exit_usage);
    CHECK(error.error_class().kind == "invalid-argument");
    CHECK_THAT(error.what(), Equals(message));
}

}  // namespace

TEST_CASE("params must be an object or null", "[params]") {
    CHECK_NOTHROW(Params(json(nullptr)).finish());
    CHECK_NOTHROW(Params(json::object()).finish());
    check_invalid([] { Params(json::array({1})); }, "params must be an object");
    check_invalid([] { Params(json("name")); }, "params must be an object");
    check_invalid([] { Params(json(5)); }, "params must be an object");
}

TEST_CASE("strings are read and their type checked", "[params]") {
    Params params(json{{"name", "d1"}, {"set", nullptr}, {"size", 5}});
    CHECK(params.required_string("name") == "d1");
    CHECK(params.optional_string("set") == std::nullopt);
    CHECK(params.optional_string("absent") == std::nullopt);
    CHECK(params.string_or("other", "fallback") == "fallback");
    CHECK(params.string_or("set", "null is absent") == "null is absent");
    check_invalid([&] { params.required_string("size"); }, "parameter 'size' must be a string");
    check_invalid([&] { params.optional_string("size"); }, "parameter 'size' must be a string");
    check_invalid([&] { params.string_or("size", "x"); }, "parameter 'size' must be a string");
    CHECK(Params(json{{"empty", ""}}).required_string("empty").empty());
}

TEST_CASE("a required string that is absent or null is named", "[params]") {
    check_invalid([] { Params(json::object()).required_string("name"); },
                  "parameter 'name' is required");
    check_invalid(
        [] {
            Params(json{{"name", nullptr}}).required_string("name");
        },
        "parameter 'name' is required");
    check_invalid([] { Params(json(nullptr)).required_string("set"); },
                  "parameter 'set' is required");
}

TEST_CASE("whole numbers are read and other types refused", "[params]") {
    // Unsigned, as the JSON parser makes every non-negative integer it reads.
    Params params(json{{"size", 1048576U},
                       {"zero", 0U},
                       {"max", std::numeric_limits<std::uint64_t>::max()},
                       {"none", nullptr}});
    CHECK(params.required_uint("size") == 1048576);
    CHECK(params.required_uint("zero") == 0);
    CHECK(params.required_uint("max") == std::numeric_limits<std::uint64_t>::max());
    CHECK(params.optional_uint("none") == std::nullopt);
    CHECK(params.optional_uint("absent") == std::nullopt);
    check_invalid([] { Params(json::object()).required_uint("size"); },
                  "parameter 'size' is required");
    check_invalid(
        [] {
            Params(json{{"size", nullptr}}).required_uint("size");
        },
        "parameter 'size' is required");
    const std::string message = "parameter 'size' must be a non-negative whole number";
    for (const json& value : {json("10G"), json(-1), json(1.5), json(1.0), json(true),
                              json::array({1}), json::object()}) {
        INFO(value);
        check_invalid([&] { Params(json{{"size", value}}).required_uint("size"); }, message);
        check_invalid([&] { Params(json{{"size", value}}).optional_uint("size"); }, message);
    }
}

TEST_CASE("whole numbers parsed from a request line are accepted", "[params]") {
    Params params(json::parse(R"({"size": 4096, "zero": 0, "big": 18446744073709551615})"));
    CHECK(params.required_uint("size") == 4096);
    CHECK(params.required_uint("zero") == 0);
    CHECK(params.required_uint("big") == std::numeric_limits<std::uint64_t>::max());
    const std::string message = "parameter 'size' must be a non-negative whole number";
    for (const char* text : {R"({"size": -1})", R"({"size": 1e3})", R"({"size": 4096.0})",
                             R"({"size": 18446744073709551616})"}) {
        INFO(text);
        check_invalid([&] { Params(json::parse(text)).required_uint("size"); }, message);
    }
}

TEST_CASE("booleans are read and other types refused", "[params]") {
    Params params(json{{"yes", true}, {"no", false}, {"none", nullptr}});
    CHECK(params.bool_or("yes", false));
    CHECK_FALSE(params.bool_or("no", true));
    CHECK(params.bool_or("none", true));
    CHECK_FALSE(params.bool_or("none", false));
    CHECK(params.bool_or("absent", true));
    for (const json& value : {json("true"), json(1), json(0), json::array()}) {
        INFO(value);
        check_invalid(
            [&] {
                Params(json{{"force", value}}).bool_or("force", false);
            },
            "parameter 'force' must be true or false");
    }
}

TEST_CASE("times are read as UTC and bad ones refused with the parameter", "[params]") {
    Params params(json{{"expires", "2026-12-31T23:59:00Z"}, {"not_before", nullptr}});
    CHECK(params.optional_time("expires") == parse_utc("2026-12-31T23:59:00Z"));
    CHECK(params.optional_time("expires") == std::chrono::system_clock::from_time_t(1798761540));
    CHECK(params.optional_time("not_before") == std::nullopt);
    CHECK(params.optional_time("absent") == std::nullopt);
    check_invalid(
        [] {
            Params(json{{"expires", "tomorrow"}}).optional_time("expires");
        },
        "parameter 'expires': 'tomorrow' is not a UTC time like 2026-01-31T23:59:00Z");
    check_invalid(
        [] {
            Params(json{{"expires", "2026-12-31 23:59:00"}}).optional_time("expires");
        },
        "parameter 'expires': '2026-12-31 23:59:00' is not a UTC time like "
        "2026-01-31T23:59:00Z");
    check_invalid(
        [] {
            Params(json{{"expires", "2026-02-30T00:00:00Z"}}).optional_time("expires");
        },
        "parameter 'expires': '2026-02-30T00:00:00Z' is not a valid date and time");
    check_invalid(
        [] {
            Params(json{{"expires", 1798761540}}).optional_time("expires");
        },
        "parameter 'expires' must be a string");
}

TEST_CASE("durations are read with their unit and bad ones refused with the parameter",
          "[params]") {
    using namespace std::chrono_literals;
    Params params(json{{"grace", "10s"}, {"interval", nullptr}, {"for", "2h"}});
    CHECK(params.optional_duration("grace") == 10s);
    CHECK(params.optional_duration("for") == 2h);
    CHECK(params.optional_duration("interval") == std::nullopt);
    CHECK(params.optional_duration("absent") == std::nullopt);
    const ControlError error = thrown<ControlError>([] {
        Params(json{{"grace", "soon"}}).optional_duration("grace");
    });
    CHECK(error.error_class().code == exit_usage);
    CHECK_THAT(error.what(), Catch::Matchers::StartsWith("grace: "));
    check_invalid(
        [] {
            Params(json{{"grace", 10}}).optional_duration("grace");
        },
        "parameter 'grace' must be a string");
}

TEST_CASE("finish refuses a parameter no accessor asked for", "[params]") {
    Params params(json{{"name", "d1"}, {"sise", 10U}});
    CHECK(params.required_string("name") == "d1");
    check_invalid([&] { params.finish(); }, "unknown parameter 'sise'");
    // Asking for it, even as another type, makes it known.
    CHECK(params.optional_uint("sise") == 10);
    CHECK_NOTHROW(params.finish());
}

TEST_CASE("finish accepts params that were asked for but absent", "[params]") {
    Params params(json{{"name", "d1"}});
    CHECK(params.required_string("name") == "d1");
    CHECK(params.optional_uint("size") == std::nullopt);
    CHECK_NOTHROW(params.finish());
}

TEST_CASE("finish refuses an unknown parameter even when it is null", "[params]") {
    // Null reads as absent for the accessors, but a misspelled name is still a
    // mistake the caller should hear about.
    Params params(json{{"nmae", nullptr}});
    check_invalid([&] { params.finish(); }, "unknown parameter 'nmae'");
}

TEST_CASE("finish names the first unknown parameter in name order", "[params]") {
    Params params(json{{"zeta", 1U}, {"alpha", 2U}, {"known", 3U}});
    CHECK(params.optional_uint("known") == 3);
    check_invalid([&] { params.finish(); }, "unknown parameter 'alpha'");
}

TEST_CASE("finish with no params at all accepts", "[params]") {
    CHECK_NOTHROW(Params(json(nullptr)).finish());
    CHECK_NOTHROW(Params(json::object()).finish());
}
