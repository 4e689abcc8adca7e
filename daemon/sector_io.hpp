#pragma once

// Whole stored sectors of one disk in and out of its backing store (or
// slots of its host cache file in and out of that file) through the ring of
// the calling reactor. Results are 0 or -errno; short transfers
// are continued, and a read that ends early (the store shrank under us) is
// -EIO. Nothing here decrypts: callers own the cipher.

#include <cstdint>
#include <span>

#include "disk/served_disk.hpp"
#include "io/reactor.hpp"
#include "io/task.hpp"

namespace hostcrypt::daemon {

class SectorIo {
  public:
    SectorIo(io::Reactor& reactor, const disk::ServedDisk& disk)
        : SectorIo(reactor, disk.backend(), disk.data_offset(), disk.sector_size()) {}
    // Units of `unit_size` bytes from `data_offset` of `backend`.
    SectorIo(io::Reactor& reactor, const storage::RingBackend& backend, std::uint64_t data_offset,
             std::uint32_t unit_size)
        : reactor_(reactor), backend_(backend), data_offset_(data_offset), unit_size_(unit_size) {}

    io::Task<int> read(std::span<std::byte> sectors, std::uint64_t first_sector);
    io::Task<int> write(std::span<const std::byte> sectors, std::uint64_t first_sector);
    io::Task<int> flush();
    // The sectors then read as stored zeros, which the format reads as
    // plaintext zeros (a hole). -EOPNOTSUPP where the store cannot do it.
    io::Task<int> discard(std::uint64_t first_sector, std::uint64_t count);
    io::Task<int> prefetch(std::uint64_t first_sector, std::uint64_t count);

  private:
    std::uint64_t position(std::uint64_t sector) const noexcept {
        return data_offset_ + sector * unit_size_;
    }

    io::Reactor& reactor_;
    const storage::RingBackend& backend_;
    std::uint64_t data_offset_;
    std::uint32_t unit_size_;
};

}  // namespace hostcrypt::daemon
