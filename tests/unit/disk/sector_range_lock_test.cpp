// The partial-sector write lock: overlapping ranges exclude each other,
// disjoint ones do not, and every waiter is woken exactly once, on the thread
// that releases.

#include "disk/sector_range_lock.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using hostcrypt::disk::SectorRangeLock;
using Range = SectorRangeLock::Range;

namespace {

// A wake function that counts its calls.
struct WakeCounter {
    int calls = 0;
    std::function<void()> wake() {
        return [this] { ++calls; };
    }
};

void never_woken() {
    FAIL("a lock that was taken must not keep its wake function");
}

}  // namespace

TEST_CASE("ranges overlap when they share a sector", "[disk][sector_range_lock]") {
    const Range held{10, 20};
    CHECK(held.overlaps({10, 20}));
    CHECK(held.overlaps({0, 11}));
    CHECK(held.overlaps({19, 30}));
    CHECK(held.overlaps({12, 13}));
    CHECK(held.overlaps({0, 100}));
    CHECK_FALSE(held.overlaps({0, 10}));   // ends where it begins
    CHECK_FALSE(held.overlaps({20, 30}));  // begins where it ends
    CHECK_FALSE(held.overlaps({100, 200}));
}

TEST_CASE("disjoint ranges are held at once", "[disk][sector_range_lock]") {
    SectorRangeLock lock;
    CHECK(lock.try_lock({0, 4}, never_woken));
    CHECK(lock.try_lock({4, 8}, never_woken));
    CHECK(lock.try_lock({100, 101}, never_woken));
    lock.unlock({4, 8});
    lock.unlock({0, 4});
    lock.unlock({100, 101});
}

TEST_CASE("an overlapping range waits until the holder unlocks", "[disk][sector_range_lock]") {
    SectorRangeLock lock;
    REQUIRE(lock.try_lock({8, 16}, never_woken));
    const Range wanted =
        GENERATE(Range{8, 16}, Range{0, 9}, Range{15, 20}, Range{10, 11}, Range{0, 1000});
    INFO("wanted [" << wanted.first << ", " << wanted.end << ")");
    WakeCounter counter;
    CHECK_FALSE(lock.try_lock(wanted, counter.wake()));
    CHECK(counter.calls == 0);

    lock.unlock({8, 16});
    CHECK(counter.calls == 1);
    CHECK(lock.try_lock(wanted, never_woken));
    lock.unlock(wanted);
    CHECK(counter.calls == 1);
}

TEST_CASE("unlock wakes every waiter exactly once", "[disk][sector_range_lock]") {
    SectorRangeLock lock;
    REQUIRE(lock.try_lock({0, 4}, never_woken));
    REQUIRE(lock.try_lock({10, 14}, never_woken));
    std::vector<WakeCounter> waiters(3);
    CHECK_FALSE(lock.try_lock({0, 1}, waiters[0].wake()));
    CHECK_FALSE(lock.try_lock({3, 11}, waiters[1].wake()));
    CHECK_FALSE(lock.try_lock({12, 13}, waiters[2].wake()));

    // Every waiter retries, even one whose conflict is still held.
    lock.unlock({0, 4});
    CHECK(waiters[0].calls == 1);
    CHECK(waiters[1].calls == 1);
    CHECK(waiters[2].calls == 1);

    // Waking consumed them: another unlock wakes no one again.
    lock.unlock({10, 14});
    CHECK(waiters[0].calls == 1);
    CHECK(waiters[1].calls == 1);
    CHECK(waiters[2].calls == 1);

    // A waiter that loses its retry waits again and is woken again.
    REQUIRE(lock.try_lock({0, 4}, never_woken));
    CHECK_FALSE(lock.try_lock({2, 3}, waiters[0].wake()));
    lock.unlock({0, 4});
    CHECK(waiters[0].calls == 2);
}

TEST_CASE("a waiter is woken on the thread that unlocks", "[disk][sector_range_lock]") {
    SectorRangeLock lock;
    REQUIRE(lock.try_lock({0, 8}, never_woken));
    std::promise<std::thread::id> woken;
    std::future<std::thread::id> woken_on = woken.get_future();
    CHECK_FALSE(lock.try_lock({4, 5}, [&] { woken.set_value(std::this_thread::get_id()); }));

    std::thread releaser([&] { lock.unlock({0, 8}); });
    const std::thread::id releaser_id = releaser.get_id();
    releaser.join();
    REQUIRE(woken_on.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    CHECK(woken_on.get() == releaser_id);
    CHECK(lock.try_lock({4, 5}, never_woken));
}

TEST_CASE("threads contending for one sector never hold it together", "[disk][sector_range_lock]") {
    SectorRangeLock lock;
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    constexpr int rounds = 500;
    std::vector<std::thread> writers;
    for (std::uint64_t t = 0; t < 4; ++t) {
        writers.emplace_back([&, t] {
            // Each writer's range overlaps sector 7 and no two are equal.
            const Range range{7 - t, 8 + t};
            for (int round = 0; round < rounds; ++round) {
                for (;;) {
                    // Shared with the wake function, which may still be
                    // finishing set_value() when this thread moves on.
                    auto wake = std::make_shared<std::promise<void>>();
                    std::future<void> woken = wake->get_future();
                    if (lock.try_lock(range, [wake] { wake->set_value(); })) {
                        break;
                    }
                    woken.wait();
                }
                const int now = ++inside;
                int most = most_inside.load();
                while (now > most && !most_inside.compare_exchange_weak(most, now)) {
                }
                --inside;
                lock.unlock(range);
            }
        });
    }
    for (std::thread& writer : writers) {
        writer.join();
    }
    CHECK(most_inside.load() == 1);
    CHECK(inside.load() == 0);
}
