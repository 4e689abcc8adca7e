// Coroutines handed between reactors (io/resume_on.hpp): the inbox keeps
// every handoff and their order, a coroutine resumes on the reactor it asked
// for and uses that reactor's ring, none is lost when many cross at once
// while the reactors sleep and wake, and a reactor with guests does not
// stop under them.

#include "io/handoff.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "io/reactor_thread.hpp"
#include "io/resume_on.hpp"
#include "io/ring_operation.hpp"
#include "io/task.hpp"

using namespace std::chrono_literals;
using namespace hostcrypt;
using io::test::get_in_time;
using io::test::prepare_nop;
using io::test::ReactorThread;

namespace {

struct Trip {
    std::thread::id started_on;
    std::thread::id away_on;
    int away_ring_result = -1;
    std::thread::id back_on;
};

// Goes from `home` to `away`, does a ring operation there, and comes back.
io::DetachedTask round_trip(io::Reactor& home, io::Reactor& away, std::promise<Trip>& outcome) {
    Trip trip;
    trip.started_on = std::this_thread::get_id();
    co_await io::resume_on(away);
    trip.away_on = std::this_thread::get_id();
    trip.away_ring_result = co_await io::on_ring(away, prepare_nop);
    co_await io::resume_on(home);
    trip.back_on = std::this_thread::get_id();
    outcome.set_value(trip);
}

// Crosses between the two reactors `trips` times, then counts itself done.
io::DetachedTask commute(io::Reactor& home, io::Reactor& away, int trips,
                         std::atomic<int>& finished, std::promise<void>& all_finished,
                         int everyone) {
    for (int trip = 0; trip < trips; ++trip) {
        co_await io::resume_on(away);
        co_await io::resume_on(home);
    }
    if (finished.fetch_add(1) + 1 == everyone) {
        all_finished.set_value();
    }
}

}  // namespace

TEST_CASE("an inbox gives back every handoff, oldest first", "[io][handoff]") {
    io::HandoffInbox inbox;
    CHECK(inbox.empty());
    CHECK(inbox.take_all() == nullptr);

    std::vector<io::Handoff> handoffs(5);
    for (io::Handoff& handoff : handoffs) {
        inbox.push(handoff);
    }
    CHECK_FALSE(inbox.empty());
    io::Handoff* taken = inbox.take_all();
    for (io::Handoff& handoff : handoffs) {
        REQUIRE(taken == &handoff);
        taken = taken->next;
    }
    CHECK(taken == nullptr);
    CHECK(inbox.empty());
}

TEST_CASE("an inbox pushed from many threads loses nothing", "[io][handoff]") {
    io::HandoffInbox inbox;
    constexpr int threads = 4;
    constexpr int per_thread = 2000;
    std::vector<io::Handoff> handoffs(threads * per_thread);
    std::vector<std::thread> pushers;
    std::atomic<int> taken{0};
    std::atomic<bool> pushing{true};
    std::thread taker([&] {
        // Takes while the others push, as a reactor does.
        for (;;) {
            const bool last_round = !pushing.load();
            for (io::Handoff* handoff = inbox.take_all(); handoff != nullptr;
                 handoff = handoff->next) {
                taken.fetch_add(1);
            }
            if (last_round) {
                return;
            }
        }
    });
    for (int t = 0; t < threads; ++t) {
        pushers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                inbox.push(handoffs[static_cast<std::size_t>(t * per_thread + i)]);
            }
        });
    }
    for (std::thread& pusher : pushers) {
        pusher.join();
    }
    pushing.store(false);
    taker.join();
    CHECK(taken.load() == threads * per_thread);
}

TEST_CASE("a coroutine resumes on the reactor it asks for and uses its ring", "[io][handoff]") {
    ReactorThread home;
    ReactorThread away;
    std::promise<Trip> outcome;
    std::future<Trip> result = outcome.get_future();
    home.call([&] {
        round_trip(home.reactor(), away.reactor(), outcome);
        return 0;
    });
    const Trip trip = get_in_time(result);
    CHECK(trip.started_on == home.id());
    CHECK(trip.away_on == away.id());
    CHECK(trip.away_ring_result == 0);
    CHECK(trip.back_on == home.id());
}

TEST_CASE("many coroutines crossing between sleeping reactors all arrive", "[io][handoff]") {
    // Each crossing may find the other reactor asleep in its ring, awake, or
    // on its way to sleep: a lost wake-up would leave a commuter stranded.
    ReactorThread home;
    ReactorThread away;
    constexpr int commuters = 200;
    constexpr int trips = 50;
    std::atomic<int> finished{0};
    std::promise<void> all_finished;
    std::future<void> done = all_finished.get_future();
    for (int i = 0; i < commuters; ++i) {
        home.reactor().post([&] {
            commute(home.reactor(), away.reactor(), trips, finished, all_finished, commuters);
        });
    }
    get_in_time(done);
    CHECK(finished.load() == commuters);
}

TEST_CASE("a reactor admits guests up to a limit", "[io][handoff]") {
    ReactorThread thread;
    io::Reactor& reactor = thread.reactor();
    CHECK(reactor.admit_guest(2));
    CHECK(reactor.admit_guest(2));
    CHECK_FALSE(reactor.admit_guest(2));  // busy enough
    reactor.guest_left();
    CHECK(reactor.admit_guest(2));
    reactor.guest_left();
    reactor.guest_left();
}

TEST_CASE("a reactor does not stop under a guest and admits none once stopping", "[io][handoff]") {
    ReactorThread thread;
    io::Reactor& reactor = thread.reactor();
    REQUIRE(reactor.admit_guest(4));
    reactor.request_stop();

    // Once the reactor has seen the stop it admits nobody new; until then a
    // newcomer is admitted and leaves again at once.
    const auto deadline = std::chrono::steady_clock::now() + io::test::patience;
    bool refused = false;
    while (!refused && std::chrono::steady_clock::now() < deadline) {
        if (reactor.admit_guest(4)) {
            reactor.guest_left();
            std::this_thread::sleep_for(1ms);
        } else {
            refused = true;
        }
    }
    CHECK(refused);
    CHECK_FALSE(thread.returned_within(100ms));  // the first guest is still there

    reactor.guest_left();  // the last guest leaving wakes it
    CHECK(thread.returned_within(5000ms));
    CHECK_FALSE(reactor.admit_guest(4));
}

TEST_CASE("a reactor counts the requests of its own connections", "[io][handoff]") {
    ReactorThread thread;
    io::Reactor& reactor = thread.reactor();
    CHECK(reactor.own_requests() == 0);
    thread.call([&] {
        reactor.own_request_began();
        reactor.own_request_began();
        reactor.own_request_ended();
        return 0;
    });
    CHECK(reactor.own_requests() == 1);  // read from another thread
}
