#pragma once

// A reactor is one thread's event loop around its own io_uring. Everything a
// connection does — receiving, sending, storage reads and writes, syncs —
// is an entry on the ring of the reactor the connection lives on, so no
// request ever needs a lock to reach its I/O.
//
// Thread safety: post() and request_stop() may be called from any thread;
// everything else only on the reactor's own thread (inside run()).

#include <coroutine>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "common/unique_fd.hpp"
#include "io/buffer_pool.hpp"
#include "io/completion.hpp"
#include "io/ring.hpp"

namespace hostcrypt::io {

class Reactor {
  public:
    explicit Reactor(unsigned index, unsigned ring_entries = 256);
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    unsigned index() const noexcept { return index_; }
    Ring& ring() noexcept { return ring_; }
    BufferPool& buffers() noexcept { return buffers_; }

    // Runs the loop on the calling thread until request_stop() was called
    // and nothing holds the reactor any more.
    void run();

    // Any thread: runs `work` on the reactor's thread soon. Not for the data
    // path (it takes a lock): for handing over connections and control.
    void post(std::function<void()> work);
    // Any thread: makes run() return once every hold is released.
    void request_stop();

    // Reactor thread: resumes `handle` after the completions at hand, so a
    // wake-up never runs one coroutine inside another.
    void defer(std::coroutine_handle<> handle);
    // Reactor thread: work that must finish before run() may return (a live
    // connection, an accept loop) holds the reactor.
    void hold() noexcept { ++holds_; }
    void release() noexcept { --holds_; }
    bool stop_requested() const noexcept { return stop_requested_; }

  private:
    class Wakeup final : public Completion {
      public:
        explicit Wakeup(Reactor& reactor) : reactor_(reactor) {}
        void complete(int result, std::uint32_t flags) override;

      private:
        Reactor& reactor_;
    };

    void arm_wakeup();
    void run_posted();
    void run_deferred();
    bool finished() const noexcept { return stop_requested_ && holds_ == 0; }

    unsigned index_;
    Ring ring_;
    BufferPool buffers_;
    UniqueFd wakeup_fd_;
    Wakeup wakeup_{*this};
    std::uint64_t wakeup_value_ = 0;

    std::mutex posted_mutex_;
    std::vector<std::function<void()>> posted_;  // guarded by posted_mutex_
    std::vector<std::function<void()>> running_posted_;

    std::vector<std::coroutine_handle<>> deferred_;
    std::vector<std::coroutine_handle<>> running_deferred_;
    std::uint64_t holds_ = 0;
    bool stop_requested_ = false;  // reactor thread only; set through post()
};

}  // namespace hostcrypt::io
