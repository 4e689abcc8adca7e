// Coroutines on a real ring: `co_await io::on_ring(...)` resumes with the
// entry's result, failures arrive as -errno values, and far more operations
// than the submission queue holds all complete.

#include "io/ring_operation.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <future>
#include <span>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "common/unique_fd.hpp"
#include "io/reactor_thread.hpp"
#include "io/task.hpp"
#include "support/temp_dir.hpp"

using namespace hostcrypt;
using io::test::get_in_time;
using io::test::prepare_nop;
using io::test::ReactorThread;

namespace {

struct Outcome {
    int result = 0;
    std::thread::id resumed_on;
};

io::DetachedTask nop(io::Reactor& reactor, std::promise<Outcome>& outcome) {
    const int result = co_await io::on_ring(reactor, prepare_nop);
    outcome.set_value({result, std::this_thread::get_id()});
}

io::DetachedTask read_at(io::Reactor& reactor, int fd, std::span<std::byte> into,
                         std::uint64_t offset, std::promise<int>& outcome) {
    const int result = co_await io::on_ring(reactor, [&](io_uring_sqe* sqe) {
        io_uring_prep_read(sqe, fd, into.data(), static_cast<unsigned>(into.size()), offset);
    });
    outcome.set_value(result);
}

// Reads `into.size()` bytes of `fd` at `offset` in a coroutine on the reactor
// and returns the operation's result.
int read_through_ring(ReactorThread& thread, int fd, std::span<std::byte> into,
                      std::uint64_t offset) {
    std::promise<int> outcome;
    std::future<int> result = outcome.get_future();
    thread.reactor().post([&] { read_at(thread.reactor(), fd, into, offset, outcome); });
    return get_in_time(result);
}

// Counts completions and their results; reactor thread only.
struct Tally {
    std::size_t expected = 0;
    std::size_t completed = 0;
    std::size_t nonzero = 0;
    std::promise<std::size_t> all_done;
};

io::DetachedTask counted_nop(io::Reactor& reactor, Tally& tally) {
    const int result = co_await io::on_ring(reactor, prepare_nop);
    ++tally.completed;
    if (result != 0) {
        ++tally.nonzero;
    }
    if (tally.completed == tally.expected) {
        tally.all_done.set_value(tally.nonzero);
    }
}

std::vector<std::byte> file_pattern(std::size_t size) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<std::byte>((i * 7 + i / 4096) % 253 + 1);
    }
    return bytes;
}

}  // namespace

TEST_CASE("a nop on the ring resumes its coroutine with 0 on the reactor thread",
          "[io][ring_operation]") {
    ReactorThread thread;
    std::promise<Outcome> outcome;
    std::future<Outcome> result = outcome.get_future();
    thread.reactor().post([&] { nop(thread.reactor(), outcome); });
    const Outcome seen = get_in_time(result);
    CHECK(seen.result == 0);
    CHECK(seen.resumed_on == thread.id());
}

TEST_CASE("a read through the ring returns the file's bytes", "[io][ring_operation]") {
    test::TempDir dir;
    const std::vector<std::byte> content = file_pattern(64 * 1024);
    write_file_atomically(dir / "data", content, 0600);
    const UniqueFd fd = open_file(dir / "data", O_RDONLY);

    ReactorThread thread;
    SECTION("a whole range inside the file") {
        std::vector<std::byte> read(8192, std::byte{0});
        CHECK(read_through_ring(thread, fd.get(), read, 12288) == 8192);
        CHECK(std::equal(read.begin(), read.end(), content.begin() + 12288));
    }
    SECTION("a range running past the end is short") {
        std::vector<std::byte> read(8192, std::byte{0});
        CHECK(read_through_ring(thread, fd.get(), read, 61440) == 4096);
        CHECK(std::equal(read.begin(), read.begin() + 4096, content.begin() + 61440));
    }
}

TEST_CASE("a read on a bad file descriptor completes with -EBADF as a value",
          "[io][ring_operation][errors]") {
    ReactorThread thread;
    std::vector<std::byte> read(4096);
    CHECK(read_through_ring(thread, -1, read, 0) == -EBADF);
}

TEST_CASE("far more operations than the submission queue holds all complete",
          "[io][ring_operation]") {
    // 256 entries is the daemon's default; 8 makes every prepare after the
    // first few submit a full queue, and both overflow the completion queue.
    const unsigned entries = GENERATE(256u, 8u);
    INFO(entries << " ring entries");
    ReactorThread thread(entries);
    Tally tally;
    tally.expected = 10'000;
    std::future<std::size_t> nonzero = tally.all_done.get_future();
    thread.reactor().post([&] {
        for (std::size_t i = 0; i < tally.expected; ++i) {
            counted_nop(thread.reactor(), tally);
        }
    });
    CHECK(get_in_time(nonzero) == 0);
    CHECK(thread.call([&] { return tally.completed; }) == 10'000);
}
