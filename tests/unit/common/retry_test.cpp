// retry_for: retries one kind of failure until a deadline, and no other.

#include "common/retry.hpp"

#include <chrono>
#include <stdexcept>

#include <catch2/catch.hpp>

using hostcrypt::retry_for;
using namespace std::chrono_literals;

namespace {

struct Busy : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace

TEST_CASE("retry_for returns once an attempt succeeds", "[retry]") {
    int attempts = 0;
    const int result = retry_for<Busy>(
        5s,
        [&] {
            if (++attempts < 3) {
                throw Busy("busy");
            }
            return 42;
        },
        1ms);
    CHECK(result == 42);
    CHECK(attempts == 3);
}

TEST_CASE("retry_for rethrows the transient failure after the wait", "[retry]") {
    int attempts = 0;
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(retry_for<Busy>(
                        50ms,
                        [&]() -> int {
                            ++attempts;
                            throw Busy("still busy");
                        },
                        5ms),
                    Busy);
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);
    CHECK(attempts >= 2);
}

TEST_CASE("retry_for does not retry other failures", "[retry]") {
    int attempts = 0;
    CHECK_THROWS_AS(retry_for<Busy>(5s,
                                    [&]() -> int {
                                        ++attempts;
                                        throw std::logic_error("a bug, not a busy resource");
                                    }),
                    std::logic_error);
    CHECK(attempts == 1);
}
