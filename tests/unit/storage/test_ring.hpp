#pragma once

// Shared by the storage tests: a plain io_uring (liburing, no reactor) that
// runs one prepared entry at a time and returns its result, so a backend's
// entries are checked against a real kernel ring.

#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <optional>
#include <string>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <liburing.h>

#include "common/unique_fd.hpp"

namespace hostcrypt::storage::test {

class TestRing {
  public:
    TestRing() { REQUIRE(io_uring_queue_init(8, &ring_, 0) == 0); }
    ~TestRing() { io_uring_queue_exit(&ring_); }
    TestRing(const TestRing&) = delete;
    TestRing& operator=(const TestRing&) = delete;

    // Fills one entry with `prepare`, submits it and returns its result
    // (bytes or -errno).
    template <typename Prepare>
    int run(Prepare prepare) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        REQUIRE(sqe != nullptr);
        prepare(sqe);
        REQUIRE(io_uring_submit(&ring_) == 1);
        io_uring_cqe* cqe = nullptr;
        REQUIRE(io_uring_wait_cqe(&ring_, &cqe) == 0);
        const int result = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        return result;
    }

  private:
    io_uring ring_{};
};

// What the kernel says about O_DIRECT on `path`: whether it opens with
// O_DIRECT at all, and the offset alignment statx reports, if it does.
struct DirectIoProbe {
    bool opens = false;
    std::optional<std::uint32_t> reported_alignment;

    // What FileBackend assumes when the kernel reports nothing: 512 bytes.
    std::uint32_t assumed_alignment() const { return reported_alignment.value_or(512); }
    // Whether FileBackend should use O_DIRECT for I/O of `io_unit` bytes.
    bool accepts(std::uint32_t io_unit) const {
        return opens && assumed_alignment() != 0 && io_unit % assumed_alignment() == 0;
    }
};

inline DirectIoProbe probe_direct_io(const std::string& path) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
    if (!fd) {
        return {};
    }
    struct statx stx {};
    if (::statx(fd.get(), "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) != 0) {
        return {true, stx.stx_dio_offset_align};
    }
    return {true, std::nullopt};
}

}  // namespace hostcrypt::storage::test
