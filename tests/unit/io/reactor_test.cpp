// The reactor's loop: work posted from other threads runs on the reactor's
// thread in order, and run() returns only once stop was asked for and every
// hold is released.

#include "io/reactor.hpp"

#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "io/reactor_thread.hpp"

using namespace std::chrono_literals;
using hostcrypt::io::test::get_in_time;
using hostcrypt::io::test::ReactorThread;

TEST_CASE("posted work runs on the reactor's thread", "[io][reactor]") {
    ReactorThread thread;
    const std::thread::id ran_on = thread.call([] { return std::this_thread::get_id(); });
    CHECK(ran_on == thread.id());
    CHECK(ran_on != std::this_thread::get_id());
    CHECK(thread.call([&] { return thread.reactor().index(); }) == 0);
}

TEST_CASE("posted work runs in the order it was posted", "[io][reactor]") {
    ReactorThread thread;
    std::vector<int> order;  // reactor thread only, until the last call returns
    for (int i = 0; i < 100; ++i) {
        thread.reactor().post([&order, i] { order.push_back(i); });
    }
    const std::vector<int> seen = thread.call([&] { return order; });
    REQUIRE(seen.size() == 100);
    for (int i = 0; i < 100; ++i) {
        CHECK(seen[static_cast<std::size_t>(i)] == i);
    }
}

TEST_CASE("work posted from many threads all runs", "[io][reactor]") {
    ReactorThread thread;
    int count = 0;  // reactor thread only
    std::vector<std::thread> posters;
    for (int t = 0; t < 4; ++t) {
        posters.emplace_back([&] {
            for (int i = 0; i < 250; ++i) {
                thread.reactor().post([&count] { ++count; });
            }
        });
    }
    for (std::thread& poster : posters) {
        poster.join();
    }
    CHECK(thread.call([&] { return count; }) == 1000);
}

TEST_CASE("work posted before run() starts runs once it does", "[io][reactor]") {
    hostcrypt::io::Reactor reactor(3);
    std::promise<std::thread::id> ran_on;
    std::future<std::thread::id> result = ran_on.get_future();
    reactor.post([&] { ran_on.set_value(std::this_thread::get_id()); });
    reactor.request_stop();
    std::thread runner([&] { reactor.run(); });
    const std::thread::id id = get_in_time(result);
    runner.join();
    CHECK(id != std::this_thread::get_id());
    CHECK(reactor.index() == 3);
}

TEST_CASE("request_stop makes run() return when nothing holds the reactor", "[io][reactor]") {
    ReactorThread thread;
    CHECK_FALSE(thread.call([&] { return thread.reactor().stop_requested(); }));
    thread.reactor().request_stop();
    CHECK(thread.returned_within(5000ms));
    CHECK(thread.reactor().stop_requested());
}

TEST_CASE("run() does not return while a hold is outstanding", "[io][reactor]") {
    ReactorThread thread;
    hostcrypt::io::Reactor& reactor = thread.reactor();
    thread.call([&] {
        reactor.hold();
        reactor.hold();
    });
    reactor.request_stop();
    CHECK_FALSE(thread.returned_within(100ms));
    CHECK(thread.call([&] { return reactor.stop_requested(); }));

    // Work posted after the stop request still runs while held.
    reactor.post([&] { reactor.release(); });
    CHECK_FALSE(thread.returned_within(100ms));

    reactor.post([&] { reactor.release(); });
    CHECK(thread.returned_within(5000ms));
}
