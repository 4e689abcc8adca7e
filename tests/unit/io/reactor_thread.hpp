#pragma once

// Shared by the io tests: a Reactor running on its own thread, with a way to
// run work there and wait for its result, and a nop to put on its ring.

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>
#include <liburing.h>

#include "io/reactor.hpp"

namespace hostcrypt::io::test {

// Long enough for a slow sanitizer build, short enough that a hang fails.
inline constexpr std::chrono::seconds patience{5};

// Waits for `future` at most `patience`; fails the test if it is not ready.
template <typename T>
T get_in_time(std::future<T>& future) {
    REQUIRE(future.wait_for(patience) == std::future_status::ready);
    return future.get();
}

// The simplest ring operation: completes at once with 0.
inline void prepare_nop(io_uring_sqe* sqe) {
    io_uring_prep_nop(sqe);
}

class ReactorThread {
  public:
    explicit ReactorThread(unsigned ring_entries = 256)
        : reactor_(0, ring_entries), thread_([this] {
              reactor_.run();
              returned_.set_value();
          }) {}
    ReactorThread(const ReactorThread&) = delete;
    ReactorThread& operator=(const ReactorThread&) = delete;
    ~ReactorThread() { stop(); }

    Reactor& reactor() noexcept { return reactor_; }
    std::thread::id id() const noexcept { return thread_.get_id(); }

    // Runs `work` on the reactor thread and returns its result.
    template <typename Work>
    auto call(Work work) -> decltype(work()) {
        using Result = decltype(work());
        auto task = std::make_shared<std::packaged_task<Result()>>(std::move(work));
        std::future<Result> result = task->get_future();
        reactor_.post([task] { (*task)(); });
        return get_in_time(result);
    }

    // Whether run() has returned, waiting at most `wait` for it.
    bool returned_within(std::chrono::milliseconds wait) {
        return returned_future_.wait_for(wait) == std::future_status::ready;
    }

    void stop() {
        if (thread_.joinable()) {
            reactor_.request_stop();
            thread_.join();
        }
    }

  private:
    Reactor reactor_;
    std::promise<void> returned_;
    std::future<void> returned_future_ = returned_.get_future();
    std::thread thread_;
};

}  // namespace hostcrypt::io::test
