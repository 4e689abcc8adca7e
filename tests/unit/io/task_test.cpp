// Task<T>: started by co_await, it hands its value back to the coroutine
// that awaited it, whether it finished at once or after ring operations.

#include "io/task.hpp"

#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "io/reactor_thread.hpp"
#include "io/ring_operation.hpp"

using namespace hostcrypt;
using io::test::get_in_time;
using io::test::prepare_nop;
using io::test::ReactorThread;

namespace {

io::Task<int> sum_now(int a, int b) {
    co_return a + b;
}

// Suspends on the ring twice before it returns.
io::Task<int> sum_after_nops(io::Reactor& reactor, int a, int b) {
    const int first = co_await io::on_ring(reactor, prepare_nop);
    const int second = co_await io::on_ring(reactor, prepare_nop);
    co_return a + b + first + second;
}

io::Task<std::unique_ptr<std::string>> move_only(io::Reactor& reactor, std::string text) {
    const int result = co_await io::on_ring(reactor, prepare_nop);
    co_return std::make_unique<std::string>(text + " " + std::to_string(result));
}

// Awaits `depth` nested tasks, each doing a ring operation on the way back.
io::Task<int> nested(io::Reactor& reactor, int depth) {
    if (depth == 0) {
        co_return 0;
    }
    const int inner = co_await nested(reactor, depth - 1);
    const int result = co_await io::on_ring(reactor, prepare_nop);
    co_return inner + 1 + result;
}

io::DetachedTask await_sum_now(std::promise<int>& outcome) {
    const int value = co_await sum_now(40, 2);
    outcome.set_value(value);
}

io::DetachedTask await_sum_after_nops(io::Reactor& reactor, std::promise<int>& outcome) {
    const int value = co_await sum_after_nops(reactor, 40, 2);
    outcome.set_value(value);
}

io::DetachedTask await_move_only(io::Reactor& reactor, std::promise<std::string>& outcome) {
    std::unique_ptr<std::string> value = co_await move_only(reactor, "moved");
    outcome.set_value(*value);
}

io::DetachedTask await_nested(io::Reactor& reactor, int depth, std::promise<int>& outcome) {
    const int value = co_await nested(reactor, depth);
    outcome.set_value(value);
}

io::DetachedTask await_in_sequence(io::Reactor& reactor, std::promise<std::vector<int>>& outcome) {
    std::vector<int> values;
    for (int i = 0; i < 5; ++i) {
        const int value = co_await sum_after_nops(reactor, i, 10);
        values.push_back(value);
    }
    outcome.set_value(std::move(values));
}

// Starts `start` on the reactor thread and waits for what it reports.
template <typename T, typename Start>
T outcome_of(ReactorThread& thread, Start start) {
    std::promise<T> outcome;
    std::future<T> result = outcome.get_future();
    thread.reactor().post([&] { start(outcome); });
    return get_in_time(result);
}

}  // namespace

TEST_CASE("a task that returns at once hands its value to its awaiter", "[io][task]") {
    ReactorThread thread;
    CHECK(outcome_of<int>(thread, [](std::promise<int>& p) { await_sum_now(p); }) == 42);
}

TEST_CASE("a task that suspends on the ring hands its value to its awaiter", "[io][task]") {
    ReactorThread thread;
    io::Reactor& reactor = thread.reactor();
    CHECK(outcome_of<int>(thread,
                          [&](std::promise<int>& p) { await_sum_after_nops(reactor, p); }) == 42);
}

TEST_CASE("a task can return a move-only value", "[io][task]") {
    ReactorThread thread;
    io::Reactor& reactor = thread.reactor();
    CHECK(outcome_of<std::string>(thread, [&](std::promise<std::string>& p) {
              await_move_only(reactor, p);
          }) == "moved 0");
}

TEST_CASE("nested tasks return through every level", "[io][task]") {
    ReactorThread thread;
    io::Reactor& reactor = thread.reactor();
    CHECK(outcome_of<int>(thread, [&](std::promise<int>& p) { await_nested(reactor, 50, p); }) ==
          50);
}

TEST_CASE("one coroutine awaits tasks one after another", "[io][task]") {
    ReactorThread thread;
    io::Reactor& reactor = thread.reactor();
    CHECK(outcome_of<std::vector<int>>(thread, [&](std::promise<std::vector<int>>& p) {
              await_in_sequence(reactor, p);
          }) == std::vector<int>{10, 11, 12, 13, 14});
}
