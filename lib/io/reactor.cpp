#include "io/reactor.hpp"

#include <cerrno>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io/io_error.hpp"

namespace hostcrypt::io {

Reactor::Reactor(unsigned index, unsigned ring_entries)
    : index_(index), ring_(ring_entries), wakeup_fd_(::eventfd(0, EFD_CLOEXEC)) {
    if (!wakeup_fd_) {
        throw_io_error("cannot create the reactor's eventfd", errno);
    }
    arm_wakeup();
}

void Reactor::arm_wakeup() {
    io_uring_sqe* sqe = ring_.prepare(wakeup_);
    io_uring_prep_read(sqe, wakeup_fd_.get(), &wakeup_value_, sizeof wakeup_value_, 0);
}

void Reactor::Wakeup::complete(int result, std::uint32_t /*flags*/) {
    if (result < 0 && result != -EINTR && result != -EAGAIN) {
        // The eventfd cannot fail on a read of 8 bytes; if it ever does, the
        // reactor could no longer be woken and would hang at shutdown.
        throw_io_error("reading the reactor's eventfd failed", -result);
    }
    reactor_.arm_wakeup();
    reactor_.run_posted();
}

void Reactor::wake() noexcept {
    const std::uint64_t one = 1;
    // An eventfd write of 8 bytes only fails if the counter would overflow,
    // which a pending read prevents; the wake-up is then already on its way.
    [[maybe_unused]] const ssize_t written = ::write(wakeup_fd_.get(), &one, sizeof one);
}

void Reactor::post(std::function<void()> work) {
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(work));
    }
    wake();
}

void Reactor::hand_over(Handoff& handoff) noexcept {
    handed_over_.push(handoff);
    // Sequentially consistent with wait_for_work(): either this sees the
    // reactor asleep, or the reactor sees the handoff before it blocks.
    if (sleeping_.exchange(false, std::memory_order_seq_cst)) {
        wake();
    }
}

bool Reactor::admit_guest(unsigned limit) noexcept {
    const unsigned before = guests_.fetch_add(1, std::memory_order_seq_cst);
    // Checked after counting in, against finished()'s order (closing_, then
    // the count): a guest either sees the reactor closing or is seen by it.
    if (before >= limit || closing_.load(std::memory_order_seq_cst)) {
        guest_left();
        return false;
    }
    return true;
}

void Reactor::guest_left() noexcept {
    if (guests_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        closing_.load(std::memory_order_seq_cst)) {
        wake();  // the last guest was what run() waited for
    }
}

bool Reactor::finished() noexcept {
    if (!stop_requested_ || holds_ != 0) {
        return false;
    }
    closing_.store(true, std::memory_order_seq_cst);
    return guests_.load(std::memory_order_seq_cst) == 0;
}

void Reactor::request_stop() {
    post([this] { stop_requested_ = true; });
}

void Reactor::run_posted() {
    {
        std::lock_guard lock(posted_mutex_);
        running_posted_.swap(posted_);
    }
    for (auto& work : running_posted_) {
        work();
    }
    running_posted_.clear();
}

void Reactor::defer(std::coroutine_handle<> handle) {
    deferred_.push_back(handle);
}

void Reactor::run_deferred() {
    while (!deferred_.empty()) {
        running_deferred_.swap(deferred_);
        for (std::coroutine_handle<> handle : running_deferred_) {
            handle.resume();
        }
        running_deferred_.clear();
    }
}

void Reactor::resume_handed_over() {
    Handoff* handoff = handed_over_.take_all();
    while (handoff != nullptr) {
        // Read before resuming: the node lives in the frame that resumes.
        Handoff* next = handoff->next;
        handoff->handle.resume();
        handoff = next;
    }
}

void Reactor::wait_for_work() {
    if (ring_.has_completions()) {
        // Work at hand: not a sleep, so nobody need write the eventfd.
        ring_.submit_and_get_events();
        return;
    }
    sleeping_.store(true, std::memory_order_seq_cst);
    if (handed_over_.empty()) {
        ring_.submit_and_wait();
    } else {
        // Something was handed over meanwhile: no blocking, but the ring's
        // completions are still collected so they never starve.
        ring_.submit_and_get_events();
    }
    sleeping_.store(false, std::memory_order_relaxed);
}

void Reactor::run() {
    ring_.enable_on_this_thread();
    for (;;) {
        resume_handed_over();
        run_deferred();
        if (finished()) {
            return;
        }
        wait_for_work();
        ring_.dispatch_completions();
    }
}

}  // namespace hostcrypt::io
