#include "daemon/sector_io.hpp"

#include <cerrno>

#include "io/ring_operation.hpp"

namespace hostcrypt::daemon {

namespace {

// Repeats a read or write until `total` bytes are through: a short transfer
// continues where it stopped, an empty one means the store ended early.
// `prepare(sqe, done)` fills in the entry for the bytes after `done`.
template <typename Prepare>
io::Task<int> transfer_all(io::Reactor& reactor, std::size_t total, Prepare prepare) {
    std::size_t done = 0;
    while (done < total) {
        const int result =
            co_await io::on_ring(reactor, [&](io_uring_sqe* sqe) { prepare(sqe, done); });
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

}  // namespace

io::Task<int> SectorIo::read(std::span<std::byte> sectors, std::uint64_t first_sector) {
    const storage::RingBackend& backend = disk_.backend();
    const std::uint64_t at = position(first_sector);
    co_return co_await transfer_all(reactor_, sectors.size(),
                                    [&](io_uring_sqe* sqe, std::size_t done) {
                                        backend.prepare_read(sqe, sectors.subspan(done), at + done);
                                    });
}

io::Task<int> SectorIo::write(std::span<const std::byte> sectors, std::uint64_t first_sector) {
    const storage::RingBackend& backend = disk_.backend();
    const std::uint64_t at = position(first_sector);
    co_return co_await transfer_all(
        reactor_, sectors.size(), [&](io_uring_sqe* sqe, std::size_t done) {
            backend.prepare_write(sqe, sectors.subspan(done), at + done);
        });
}

io::Task<int> SectorIo::flush() {
    const storage::RingBackend& backend = disk_.backend();
    co_return co_await io::on_ring(reactor_,
                                   [&](io_uring_sqe* sqe) { backend.prepare_flush(sqe); });
}

io::Task<int> SectorIo::discard(std::uint64_t first_sector, std::uint64_t count) {
    const storage::RingBackend& backend = disk_.backend();
    const std::uint64_t at = position(first_sector);
    const std::uint64_t length = count * disk_.sector_size();
    co_return co_await io::on_ring(
        reactor_, [&](io_uring_sqe* sqe) { backend.prepare_discard(sqe, at, length); });
}

io::Task<int> SectorIo::prefetch(std::uint64_t first_sector, std::uint64_t count) {
    const storage::RingBackend& backend = disk_.backend();
    const std::uint64_t at = position(first_sector);
    const auto length = static_cast<std::uint32_t>(count * disk_.sector_size());
    co_return co_await io::on_ring(
        reactor_, [&](io_uring_sqe* sqe) { backend.prepare_prefetch(sqe, at, length); });
}

}  // namespace hostcrypt::daemon
