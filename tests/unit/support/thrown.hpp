#pragma once

#include <stdexcept>
#include <utility>

#include <catch2/catch.hpp>

namespace hostcrypt::test {

// Runs `action`, which must throw an `E`, and returns what it threw, so a test
// can check both the error's code and its message. Fails the test otherwise.
template <typename E, typename Action>
E thrown(Action&& action) {
    try {
        std::forward<Action>(action)();
    } catch (const E& error) {
        return error;
    }
    FAIL("expected an exception that was not thrown");
    throw std::logic_error("unreachable");
}

}  // namespace hostcrypt::test
