// WaitGroup: a coroutine waiting for the count to fall below a limit is
// resumed only once it does, and never inside the done() that got it there
// (the reactor resumes it after the work at hand).

#include "io/wait_group.hpp"

#include <cstddef>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "io/reactor_thread.hpp"
#include "io/task.hpp"

using namespace hostcrypt;
using io::test::ReactorThread;
using Log = std::vector<std::string>;

namespace {

io::DetachedTask wait_below(io::WaitGroup& group, std::size_t limit, Log& log) {
    log.push_back("waiting");
    co_await group.below(limit);
    log.push_back("resumed at " + std::to_string(group.count()));
}

io::DetachedTask wait_idle(io::WaitGroup& group, Log& log) {
    log.push_back("waiting");
    co_await group.idle();
    log.push_back("resumed at " + std::to_string(group.count()));
}

void done(io::WaitGroup& group, Log& log) {
    group.done();
    log.push_back("done to " + std::to_string(group.count()));
}

// A wait group on a running reactor, and a log written on its thread.
struct Fixture {
    ReactorThread thread;
    io::WaitGroup group{thread.reactor()};
    Log log;

    // Runs `work` on the reactor thread, then returns the log as it is after
    // the deferred wake-ups that work caused.
    template <typename Work>
    Log log_after(Work work) {
        thread.call(work);
        return thread.call([this] { return log; });
    }
};

}  // namespace

TEST_CASE("below(n) resumes the waiter only when the count drops below n", "[io][wait_group]") {
    Fixture f;
    const Log seen = f.log_after([&] {
        f.group.add(3);
        wait_below(f.group, 2, f.log);
        done(f.group, f.log);  // 2: not below 2
        done(f.group, f.log);  // 1: below 2, resumed after this work
        f.log.push_back("work ends");
    });
    CHECK(seen == Log{"waiting", "done to 2", "done to 1", "work ends", "resumed at 1"});
}

TEST_CASE("below(n) does not suspend when the count is already below n", "[io][wait_group]") {
    Fixture f;
    CHECK(f.log_after([&] {
        f.group.add(1);
        wait_below(f.group, 2, f.log);
        f.log.push_back("work ends");
    }) == Log{"waiting", "resumed at 1", "work ends"});
}

TEST_CASE("idle() resumes the waiter once the count reaches zero", "[io][wait_group]") {
    Fixture f;
    // A pass of the loop after the first done(): still not resumed.
    CHECK(f.log_after([&] {
        f.group.add(2);
        wait_idle(f.group, f.log);
        done(f.group, f.log);
        f.log.push_back("first work ends");
    }) == Log{"waiting", "done to 1", "first work ends"});
    CHECK(f.log_after([&] {
        done(f.group, f.log);
        f.log.push_back("second work ends");
    }) == Log{"waiting", "done to 1", "first work ends", "done to 0", "second work ends",
              "resumed at 0"});
}

TEST_CASE("a waiter is resumed once however many done() calls follow", "[io][wait_group]") {
    Fixture f;
    CHECK(f.log_after([&] {
        f.group.add(4);
        wait_below(f.group, 3, f.log);
        f.group.done(2);  // 2: below 3, deferred
        f.group.done();   // 1
        f.group.done();   // 0
        f.log.push_back("work ends");
    }) == Log{"waiting", "work ends", "resumed at 0"});
    CHECK(f.thread.call([&] { return f.group.count(); }) == 0);
}

TEST_CASE("add and done keep the count", "[io][wait_group]") {
    io::Reactor reactor(0);  // never run: nothing waits
    io::WaitGroup group(reactor);
    CHECK(group.count() == 0);
    group.add();
    group.add(5);
    CHECK(group.count() == 6);
    group.done(4);
    CHECK(group.count() == 2);
}
