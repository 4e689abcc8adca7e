#pragma once

// `co_await io::on_ring(reactor, prepare)` queues one io_uring entry, filled
// in by `prepare(sqe)`, and resumes the coroutine with the entry's result
// (bytes transferred or -errno) when it completes. The awaiter lives in the
// suspended coroutine's frame, so it outlives the operation by construction.

#include <coroutine>
#include <cstdint>
#include <utility>

#include "io/completion.hpp"
#include "io/reactor.hpp"

namespace hostcrypt::io {

template <typename Prepare>
class RingOperation final : public Completion {
  public:
    RingOperation(Reactor& reactor, Prepare prepare)
        : reactor_(reactor), prepare_(std::move(prepare)) {}

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> waiter) {
        waiter_ = waiter;
        prepare_(reactor_.ring().prepare(*this));
    }
    int await_resume() const noexcept { return result_; }

    void complete(int result, std::uint32_t /*flags*/) override {
        result_ = result;
        waiter_.resume();
    }

  private:
    Reactor& reactor_;
    Prepare prepare_;
    std::coroutine_handle<> waiter_;
    int result_ = 0;
};

template <typename Prepare>
RingOperation<Prepare> on_ring(Reactor& reactor, Prepare prepare) {
    return RingOperation<Prepare>(reactor, std::move(prepare));
}

}  // namespace hostcrypt::io
