#pragma once

// Owns one io_uring instance (liburing). Used by exactly one thread, which
// need not be the one that created it: the ring starts disabled and the
// owning thread enables it (a single-issuer ring belongs to the thread that
// enables it).

#include <liburing.h>

#include "io/completion.hpp"

namespace hostcrypt::io {

class Ring {
  public:
    // Asks for the single-issuer, deferred-task-run setup that suits one
    // thread per ring, and falls back to a plain ring on kernels without it.
    // Throws IoError if no ring can be created (e.g. io_uring disabled).
    explicit Ring(unsigned entries);
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    // Called once, on the thread that will submit, before the first submit.
    void enable_on_this_thread();

    // A fresh entry whose user_data is `completion`; submits queued entries
    // first when the submission queue is full, so it never fails.
    io_uring_sqe* prepare(Completion& completion);
    // Submits what is queued and waits for at least one completion.
    void submit_and_wait();
    // Submits what is queued and collects finished work, without blocking.
    void submit_and_get_events();
    // Whether completions are waiting to be dispatched.
    bool has_completions() noexcept { return io_uring_cq_ready(&ring_) != 0; }
    // Calls each ready completion's target, then marks them seen. Returns
    // how many were handled.
    unsigned dispatch_completions();

  private:
    io_uring ring_{};
    bool disabled_ = false;
};

}  // namespace hostcrypt::io
