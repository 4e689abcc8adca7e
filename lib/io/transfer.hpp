#pragma once

// `co_await io::transfer_all(reactor, total, prepare)` repeats a ring
// operation until `total` bytes are through: a short transfer continues where
// it stopped. `prepare(sqe, done)` fills in the entry for the bytes after
// `done`. The result is 0, the first -errno, or -EIO if an operation moved
// nothing (a file that ended early, a peer that closed). Shared by storage
// reads and writes and by socket sends and receives.

#include <cerrno>
#include <cstddef>

#include "io/reactor.hpp"
#include "io/ring_operation.hpp"
#include "io/task.hpp"

namespace hostcrypt::io {

template <typename Prepare>
Task<int> transfer_all(Reactor& reactor, std::size_t total, Prepare prepare) {
    std::size_t done = 0;
    while (done < total) {
        const int result =
            co_await on_ring(reactor, [&](io_uring_sqe* sqe) { prepare(sqe, done); });
        if (result < 0) {
            co_return result;
        }
        if (result == 0) {
            co_return -EIO;
        }
        done += static_cast<std::size_t>(result);
    }
    co_return 0;
}

}  // namespace hostcrypt::io
