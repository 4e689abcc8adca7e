#pragma once

// Whole stored sectors of one disk in and out of its backing store through
// the ring of the calling reactor. Results are 0 or -errno; short transfers
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
    SectorIo(io::Reactor& reactor, const disk::ServedDisk& disk) : reactor_(reactor), disk_(disk) {}

    io::Task<int> read(std::span<std::byte> sectors, std::uint64_t first_sector);
    io::Task<int> write(std::span<const std::byte> sectors, std::uint64_t first_sector);
    io::Task<int> flush();
    // The sectors then read as stored zeros, which the format reads as
    // plaintext zeros (a hole). -EOPNOTSUPP where the store cannot do it.
    io::Task<int> discard(std::uint64_t first_sector, std::uint64_t count);
    io::Task<int> prefetch(std::uint64_t first_sector, std::uint64_t count);

  private:
    std::uint64_t position(std::uint64_t sector) const noexcept {
        return disk_.data_offset() + sector * disk_.sector_size();
    }

    io::Reactor& reactor_;
    const disk::ServedDisk& disk_;
};

}  // namespace hostcrypt::daemon
