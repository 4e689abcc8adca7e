#pragma once

// A reactor is one thread's event loop around its own io_uring. Everything a
// connection does — receiving, sending, storage reads and writes, syncs —
// is an entry on the ring of the reactor the connection lives on, so no
// request ever needs a lock to reach its I/O.
//
// Thread safety: post(), request_stop(), hand_over(), admit_guest() and
// guest_left() may be called from any thread; everything else only on the
// reactor's own thread (inside run()).

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "common/unique_fd.hpp"
#include "io/buffer_pool.hpp"
#include "io/completion.hpp"
#include "io/handoff.hpp"
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

    // Any thread: resumes `handoff.handle` on this reactor's thread soon.
    // Lock-free and allocation-free, for the data path (io/resume_on.hpp);
    // it costs a system call only when the reactor sleeps.
    void hand_over(Handoff& handoff) noexcept;
    // Any thread: counts in a guest — a coroutine of another reactor that
    // will come here to work for a while — unless this reactor is stopping
    // or already has `limit` guests (it is busy enough). An admitted guest
    // keeps run() from returning until guest_left().
    bool admit_guest(unsigned limit) noexcept;
    void guest_left() noexcept;

    // Reactor thread: a request of one of its own connections began or
    // ended. Any thread: how many are in flight now (a hint that may be a
    // moment old), which tells whether this reactor has time to lend.
    void own_request_began() noexcept { add_own_requests(1); }
    void own_request_ended() noexcept { add_own_requests(-1); }
    unsigned own_requests() const noexcept { return own_requests_.load(std::memory_order_relaxed); }

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
    void wake() noexcept;
    void run_posted();
    void run_deferred();
    void resume_handed_over();
    void wait_for_work();
    bool finished() noexcept;
    // Only this thread writes the count: a plain store, no locked add.
    void add_own_requests(int change) noexcept {
        own_requests_.store(
            own_requests_.load(std::memory_order_relaxed) + static_cast<unsigned>(change),
            std::memory_order_relaxed);
    }

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

    // Written by other threads: on cache lines of their own, away from the
    // fields above that only this thread touches.
    alignas(64) HandoffInbox handed_over_;
    // True while the thread is (about to be) blocked in the ring: whoever
    // hands over a coroutine then writes the eventfd. Together with the
    // inbox's own check before blocking, no hand-over is ever left waiting.
    std::atomic<bool> sleeping_{false};
    alignas(64) std::atomic<unsigned> guests_{0};
    // Set once run() wants to return: no new guest is admitted after it.
    std::atomic<bool> closing_{false};
    // Written by this thread, read by others.
    alignas(64) std::atomic<unsigned> own_requests_{0};
};

}  // namespace hostcrypt::io
