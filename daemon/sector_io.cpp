#include "daemon/sector_io.hpp"

#include "io/transfer.hpp"

namespace hostcrypt::daemon {

io::Task<int> SectorIo::read(std::span<std::byte> sectors, std::uint64_t first_sector) {
    const storage::RingBackend& backend = backend_;
    const std::uint64_t at = position(first_sector);
    co_return co_await io::transfer_all(
        reactor_, sectors.size(), [&](io_uring_sqe* sqe, std::size_t done) {
            backend.prepare_read(sqe, sectors.subspan(done), at + done);
        });
}

io::Task<int> SectorIo::write(std::span<const std::byte> sectors, std::uint64_t first_sector) {
    const storage::RingBackend& backend = backend_;
    const std::uint64_t at = position(first_sector);
    co_return co_await io::transfer_all(
        reactor_, sectors.size(), [&](io_uring_sqe* sqe, std::size_t done) {
            backend.prepare_write(sqe, sectors.subspan(done), at + done);
        });
}

io::Task<int> SectorIo::flush() {
    const storage::RingBackend& backend = backend_;
    co_return co_await io::on_ring(reactor_,
                                   [&](io_uring_sqe* sqe) { backend.prepare_flush(sqe); });
}

io::Task<int> SectorIo::discard(std::uint64_t first_sector, std::uint64_t count) {
    const storage::RingBackend& backend = backend_;
    const std::uint64_t at = position(first_sector);
    const std::uint64_t length = count * unit_size_;
    co_return co_await io::on_ring(
        reactor_, [&](io_uring_sqe* sqe) { backend.prepare_discard(sqe, at, length); });
}

io::Task<int> SectorIo::prefetch(std::uint64_t first_sector, std::uint64_t count) {
    const storage::RingBackend& backend = backend_;
    const std::uint64_t at = position(first_sector);
    const auto length = static_cast<std::uint32_t>(count * unit_size_);
    co_return co_await io::on_ring(
        reactor_, [&](io_uring_sqe* sqe) { backend.prepare_prefetch(sqe, at, length); });
}

}  // namespace hostcrypt::daemon
