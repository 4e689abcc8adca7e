#pragma once

// `co_await io::resume_on(reactor)` moves the calling coroutine to
// `reactor`'s thread: it resumes there, and its ring operations from then on
// go through that reactor's ring. A connection lends a large request's
// storage and crypto step to an idle reactor this way and comes back home
// for the reply (daemon/helping_hands.hpp).
//
// The coroutine must come back to the thread it started on before it ends:
// its frame belongs to that thread's FramePool. And it may only go to a
// reactor that admitted it as a guest (Reactor::admit_guest) and stays
// counted until it is back: a reactor returns from run() once it has no
// guests, and a coroutine handed to it after that would never resume.

#include <coroutine>

#include "io/handoff.hpp"
#include "io/reactor.hpp"

namespace hostcrypt::io {

inline auto resume_on(Reactor& reactor) noexcept {
    struct Awaiter {
        Reactor& reactor;
        Handoff handoff{};

        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> handle) noexcept {
            handoff.handle = handle;
            // From here on the coroutine may already run on the other
            // thread: nothing after this line touches the frame.
            reactor.hand_over(handoff);
        }
        void await_resume() const noexcept {}
    };
    return Awaiter{reactor};
}

}  // namespace hostcrypt::io
