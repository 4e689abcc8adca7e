#include "io/ring.hpp"

#include <cerrno>
#include <sys/syscall.h>
#include <unistd.h>

#include "io/io_error.hpp"

namespace hostcrypt::io {

Ring::Ring(unsigned entries) {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                   IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE;
    params.cq_entries = entries * 4;
    int result = io_uring_queue_init_params(entries, &ring_, &params);
    disabled_ = result == 0;
    if (result == -EINVAL) {
        params = io_uring_params{};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = entries * 4;
        result = io_uring_queue_init_params(entries, &ring_, &params);
    }
    if (result < 0) {
        throw_io_error("cannot create an io_uring", -result);
    }
}

Ring::~Ring() {
    io_uring_queue_exit(&ring_);
}

void Ring::enable_on_this_thread() {
    if (!disabled_) {
        return;
    }
    // liburing 2.3 declares io_uring_enable_rings but does not export it:
    // the register call it wraps is made directly.
    if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr,
                  0) != 0) {
        throw_io_error("cannot enable the io_uring", errno);
    }
    disabled_ = false;
}

io_uring_sqe* Ring::prepare(Completion& completion) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
        // A full queue is submitted as is; the kernel keeps completions that
        // overflow the completion queue (IORING_FEAT_NODROP), so this cannot
        // lose one.
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    io_uring_sqe_set_data(sqe, &completion);
    return sqe;
}

void Ring::submit_and_wait() {
    int result = io_uring_submit_and_wait(&ring_, 1);
    if (result < 0 && result != -EINTR && result != -EAGAIN && result != -EBUSY &&
        result != -ETIME) {
        throw_io_error("io_uring_submit_and_wait failed", -result);
    }
}

void Ring::submit_and_get_events() {
    const int result = io_uring_submit_and_get_events(&ring_);
    if (result < 0 && result != -EINTR && result != -EAGAIN && result != -EBUSY) {
        throw_io_error("io_uring_submit_and_get_events failed", -result);
    }
}

unsigned Ring::dispatch_completions() {
    unsigned handled = 0;
    io_uring_cqe* cqe = nullptr;
    // One at a time: a completion may queue new entries and even complete
    // inline, and each cqe must be marked seen before its target runs on.
    while (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe != nullptr) {
        auto* completion = static_cast<Completion*>(io_uring_cqe_get_data(cqe));
        const int result = cqe->res;
        const std::uint32_t flags = cqe->flags;
        io_uring_cqe_seen(&ring_, cqe);
        completion->complete(result, flags);
        ++handled;
    }
    return handled;
}

}  // namespace hostcrypt::io
