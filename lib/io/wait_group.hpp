#pragma once

// Counts work in progress on one reactor and lets one coroutine wait until
// the count falls below a limit: a connection pausing its receive loop while
// too many requests are in flight, or waiting for none before it closes.
// Single-threaded: used only on the reactor's thread.

#include <coroutine>
#include <cstddef>
#include <utility>

#include "io/reactor.hpp"

namespace hostcrypt::io {

class WaitGroup {
  public:
    explicit WaitGroup(Reactor& reactor) : reactor_(reactor) {}

    void add(std::size_t amount = 1) noexcept { count_ += amount; }
    void done(std::size_t amount = 1) noexcept {
        count_ -= amount;
        if (waiter_ && count_ < limit_) {
            reactor_.defer(std::exchange(waiter_, nullptr));
        }
    }
    std::size_t count() const noexcept { return count_; }

    // co_await group.below(n): resumes once the count is less than n.
    auto below(std::size_t limit) noexcept {
        struct Awaiter {
            WaitGroup& group;
            std::size_t limit;
            bool await_ready() const noexcept { return group.count_ < limit; }
            void await_suspend(std::coroutine_handle<> handle) noexcept {
                group.limit_ = limit;
                group.waiter_ = handle;
            }
            void await_resume() const noexcept {}
        };
        return Awaiter{*this, limit};
    }
    auto idle() noexcept { return below(1); }

  private:
    Reactor& reactor_;
    std::size_t count_ = 0;
    std::size_t limit_ = 0;
    std::coroutine_handle<> waiter_;
};

}  // namespace hostcrypt::io
