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

void Reactor::post(std::function<void()> work) {
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(work));
    }
    const std::uint64_t one = 1;
    // An eventfd write of 8 bytes only fails if the counter would overflow,
    // which a pending read prevents; the wake-up is then already on its way.
    [[maybe_unused]] const ssize_t written = ::write(wakeup_fd_.get(), &one, sizeof one);
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

void Reactor::run() {
    ring_.enable_on_this_thread();
    for (;;) {
        run_deferred();
        if (finished()) {
            return;
        }
        ring_.submit_and_wait();
        ring_.dispatch_completions();
    }
}

}  // namespace hostcrypt::io
