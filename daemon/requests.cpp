#include "daemon/requests.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "daemon/log.hpp"
#include "daemon/plain_io.hpp"
#include "daemon/sector_io.hpp"
#include "nbd/protocol.hpp"
#include "nbd/reply.hpp"

namespace hostcrypt::daemon {

namespace {

using nbd::NbdErrno;

// Writes of zeros go out in pieces of this size, from one pooled buffer.
constexpr std::size_t zero_chunk_bytes = std::size_t{1} << 20;

// A request's byte range [offset, offset + length) seen as the crypto
// sectors [first, end) that contain it.
struct SectorSpan {
    std::uint64_t first = 0;
    std::uint64_t end = 0;
    std::size_t head = 0;   // bytes of the first sector before the range
    std::size_t bytes = 0;  // (end - first) * sector size
    std::size_t length = 0;

    SectorSpan(std::uint64_t offset, std::size_t range_length, std::uint32_t sector_size)
        : first(offset / sector_size),
          end((offset + range_length + sector_size - 1) / sector_size),
          head(static_cast<std::size_t>(offset % sector_size)),
          bytes(static_cast<std::size_t>((end - first) * sector_size)),
          length(range_length) {}

    bool aligned() const noexcept { return head == 0 && length == bytes; }
    // Bytes of the last sector after the range.
    std::size_t tail() const noexcept { return bytes - head - length; }
};

// Holds sectors [first, end) of the disk's partial-write lock while alive.
class HeldSectors {
  public:
    HeldSectors(disk::SectorRangeLock& lock, disk::SectorRangeLock::Range range)
        : lock_(lock), range_(range) {}
    HeldSectors(const HeldSectors&) = delete;
    HeldSectors& operator=(const HeldSectors&) = delete;
    ~HeldSectors() { lock_.unlock(range_); }

  private:
    disk::SectorRangeLock& lock_;
    disk::SectorRangeLock::Range range_;
};

// co_await try_lock_sectors(...): true with the range held; false after
// waiting for an overlapping holder to let go (try again).
auto try_lock_sectors(Connection& connection, disk::SectorRangeLock::Range range) {
    struct Awaiter {
        Connection& connection;
        disk::SectorRangeLock::Range range;
        bool acquired = false;

        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> waiter) {
            io::Reactor* reactor = &connection.reactor();
            // The wake-up may come from another reactor's thread: it is
            // handed to ours, which resumes the waiter.
            acquired = connection.disk().partial_writes().try_lock(
                range, [reactor, waiter] { reactor->post([waiter] { waiter.resume(); }); });
            return !acquired;
        }
        bool await_resume() const noexcept { return acquired; }
    };
    return Awaiter{connection, range};
}

// Read-modify-write: `sectors` holds new bytes at [span.head, span.head +
// span.length); the bytes around them come from the disk's current content.
io::Task<NbdErrno> patch_and_write(Connection& connection, std::span<std::byte> sectors,
                                   const SectorSpan& span) {
    const disk::SectorRangeLock::Range range{span.first, span.end};
    for (;;) {
        // (Awaited into a local: see daemon/connection.cpp on GCC 12.)
        const bool locked = co_await try_lock_sectors(connection, range);
        if (locked) {
            break;
        }
    }
    HeldSectors held(connection.disk().partial_writes(), range);

    const std::size_t sector_size = connection.disk().sector_size();
    io::Buffer scratch;
    try {
        scratch = connection.reactor().buffers().acquire(sector_size);
    } catch (const std::bad_alloc&) {
        co_return NbdErrno::enomem;
    }
    const std::span<std::byte> old_sector = scratch.first(sector_size);
    std::uint64_t sector_in_scratch = span.end;  // none yet
    if (span.head != 0) {
        const NbdErrno error = co_await read_sectors(connection, old_sector, span.first);
        if (error != NbdErrno::none) {
            co_return error;
        }
        sector_in_scratch = span.first;
        std::memcpy(sectors.data(), old_sector.data(), span.head);
    }
    if (span.tail() != 0) {
        const std::uint64_t last = span.end - 1;
        if (sector_in_scratch != last) {
            const NbdErrno error = co_await read_sectors(connection, old_sector, last);
            if (error != NbdErrno::none) {
                co_return error;
            }
        }
        const std::size_t tail_start = sector_size - span.tail();
        std::memcpy(sectors.data() + span.bytes - span.tail(), old_sector.data() + tail_start,
                    span.tail());
    }
    co_return co_await write_sectors(connection, sectors, span.first);
}

io::Task<NbdErrno> read_request(Connection& connection, const nbd::Request& request,
                                io::Buffer& buffer) {
    if (request.length == 0) {
        co_return NbdErrno::none;
    }
    const SectorSpan span(request.offset, request.length, connection.disk().sector_size());
    co_return co_await read_sectors(connection, buffer.first(span.bytes), span.first);
}

io::Task<NbdErrno> write_request(Connection& connection, const nbd::Request& request,
                                 io::Buffer& buffer) {
    if (request.length == 0) {
        co_return NbdErrno::none;
    }
    const SectorSpan span(request.offset, request.length, connection.disk().sector_size());
    const std::span<std::byte> sectors = buffer.first(span.bytes);
    NbdErrno error = NbdErrno::none;
    if (span.aligned()) {
        error = co_await write_sectors(connection, sectors, span.first);
    } else {
        error = co_await patch_and_write(connection, sectors, span);
    }
    if (error == NbdErrno::none && (request.flags & nbd::cmd_flag_fua) != 0) {
        co_return co_await make_durable(connection);
    }
    co_return error;
}

// Zeros part of one sector, [from, to) of its bytes, by read-modify-write.
io::Task<NbdErrno> zero_partial_sector(Connection& connection, std::uint64_t sector,
                                       std::size_t from, std::size_t to) {
    const std::uint32_t sector_size = connection.disk().sector_size();
    io::Buffer buffer;
    try {
        buffer = connection.reactor().buffers().acquire(sector_size);
    } catch (const std::bad_alloc&) {
        co_return NbdErrno::enomem;
    }
    const SectorSpan span(sector * sector_size + from, to - from, sector_size);
    std::memset(buffer.data() + from, 0, to - from);
    co_return co_await patch_and_write(connection, buffer.first(sector_size), span);
}

// Whole sectors [first, end) as zeros: stored zeros (a hole to the format)
// or, when the client asked for no hole, encrypted zeros.
io::Task<NbdErrno> write_zero_sectors(Connection& connection, std::uint64_t first,
                                      std::uint64_t end, bool encrypted) {
    const std::uint32_t sector_size = connection.disk().sector_size();
    const std::uint64_t total = (end - first) * sector_size;
    io::Buffer buffer;
    try {
        buffer = connection.reactor().buffers().acquire(
            static_cast<std::size_t>(std::min<std::uint64_t>(total, zero_chunk_bytes)));
    } catch (const std::bad_alloc&) {
        co_return NbdErrno::enomem;
    }
    const std::uint64_t sectors_per_chunk = buffer.capacity() / sector_size;
    std::memset(buffer.data(), 0, buffer.capacity());
    for (std::uint64_t sector = first; sector < end; sector += sectors_per_chunk) {
        const std::uint64_t count = std::min(sectors_per_chunk, end - sector);
        const std::span<std::byte> chunk =
            buffer.first(static_cast<std::size_t>(count * sector_size));
        NbdErrno error = NbdErrno::none;
        if (encrypted) {
            std::memset(chunk.data(), 0, chunk.size());
            error = co_await write_disk_sectors(connection, chunk, sector);
        } else {
            const int result =
                co_await SectorIo(connection.reactor(), connection.disk()).write(chunk, sector);
            error = result < 0 ? storage_failure(connection, "write", result) : NbdErrno::none;
        }
        if (error != NbdErrno::none) {
            co_return error;
        }
    }
    co_return NbdErrno::none;
}

io::Task<NbdErrno> zero_request(Connection& connection, const nbd::Request& request) {
    const bool trim = request.type == nbd::to_underlying(nbd::Command::trim);
    const bool may_punch = trim || (request.flags & nbd::cmd_flag_no_hole) == 0;
    const bool fast_only = (request.flags & nbd::cmd_flag_fast_zero) != 0;
    if (request.length == 0) {
        co_return NbdErrno::none;
    }
    // Revoked keys stop every request, even one that needs no key: a trim
    // changes what the disk holds as surely as a write.
    if (connection.cipher() == nullptr) {
        co_return NbdErrno::eio;
    }
    if (fast_only && !may_punch) {
        // Encrypting and writing zeros is exactly the slow path FAST_ZERO
        // asks us to refuse at once.
        co_return NbdErrno::enotsup;
    }
    const std::uint32_t sector_size = connection.disk().sector_size();
    const SectorSpan span(request.offset, request.length, sector_size);
    std::uint64_t first_whole = span.first;
    std::uint64_t end_whole = span.end;
    if (span.head != 0) {
        const std::size_t to = std::min<std::size_t>(sector_size, span.head + span.length);
        const NbdErrno error = co_await zero_partial_sector(connection, span.first, span.head, to);
        if (error != NbdErrno::none) {
            co_return error;
        }
        ++first_whole;
    }
    if (span.tail() != 0 && end_whole - 1 >= first_whole) {
        const NbdErrno error =
            co_await zero_partial_sector(connection, span.end - 1, 0, sector_size - span.tail());
        if (error != NbdErrno::none) {
            co_return error;
        }
        --end_whole;
    }
    if (end_whole > first_whole) {
        // Whole sectors change on the disk itself: not through the cache.
        NbdErrno error = co_await go_around_cache(connection, first_whole, end_whole);
        if (error != NbdErrno::none) {
            co_return error;
        }
        if (may_punch) {
            const int result = co_await SectorIo(connection.reactor(), connection.disk())
                                   .discard(first_whole, end_whole - first_whole);
            if (result == -EOPNOTSUPP || result == -EINVAL) {
                // The store cannot punch holes: stored zeros mean the same.
                if (fast_only) {
                    error = NbdErrno::enotsup;
                } else {
                    error = co_await write_zero_sectors(connection, first_whole, end_whole, false);
                }
            } else if (result < 0) {
                error = storage_failure(connection, "discard", result);
            }
        } else {
            error = co_await write_zero_sectors(connection, first_whole, end_whole, true);
        }
        if (error != NbdErrno::none) {
            co_return error;
        }
    }
    if ((request.flags & nbd::cmd_flag_fua) != 0) {
        co_return co_await make_durable(connection);
    }
    co_return NbdErrno::none;
}

io::Task<NbdErrno> cache_request(Connection& connection, const nbd::Request& request) {
    if (request.length == 0) {
        co_return NbdErrno::none;
    }
    const SectorSpan span(request.offset, request.length, connection.disk().sector_size());
    const int result = co_await SectorIo(connection.reactor(), connection.disk())
                           .prefetch(span.first, span.end - span.first);
    co_return result < 0 ? storage_failure(connection, "read-ahead", result) : NbdErrno::none;
}

io::Task<NbdErrno> execute(Connection& connection, const nbd::Request& request,
                           io::Buffer& buffer) {
    switch (static_cast<nbd::Command>(request.type)) {
        case nbd::Command::read:
            co_return co_await read_request(connection, request, buffer);
        case nbd::Command::write:
            co_return co_await write_request(connection, request, buffer);
        case nbd::Command::flush:
            co_return co_await make_durable(connection);
        case nbd::Command::trim:
        case nbd::Command::write_zeroes:
            co_return co_await zero_request(connection, request);
        case nbd::Command::cache:
            co_return co_await cache_request(connection, request);
        default:
            // check_request admits no other command.
            co_return NbdErrno::einval;
    }
}

const char* message_of(NbdErrno error, bool keys_revoked) noexcept {
    if (keys_revoked) {
        return "the disk's keys are not available";
    }
    switch (error) {
        case NbdErrno::eio:
            return "I/O error on the backing store";
        case NbdErrno::enospc:
            return "no space left on the backing store";
        case NbdErrno::enomem:
            return "out of memory";
        case NbdErrno::enotsup:
            return "not supported";
        default:
            return "";
    }
}

void count(disk::DiskCounters& counters, const nbd::Request& request, NbdErrno error) noexcept {
    using Counters = disk::DiskCounters;
    if (error != NbdErrno::none) {
        Counters::add(counters.errors);
    } else if (request.type == nbd::to_underlying(nbd::Command::read)) {
        Counters::add(counters.reads);
        Counters::add(counters.bytes_read, request.length);
    } else if (request.type == nbd::to_underlying(nbd::Command::write)) {
        Counters::add(counters.writes);
        Counters::add(counters.bytes_written, request.length);
    }
}

}  // namespace

io::DetachedTask serve_request(Connection& connection, nbd::Request request,
                               nbd::NbdErrno early_error, io::Buffer buffer,
                               std::size_t charged_bytes) {
    NbdErrno error = early_error;
    if (error == NbdErrno::none) {
        error = co_await execute(connection, request, buffer);
    }
    count(connection.disk().counters(), request, error);
    OutgoingReply reply;
    if (request.type == nbd::to_underlying(nbd::Command::read) && error == NbdErrno::none &&
        request.length > 0) {
        reply.header_size =
            nbd::encode_read_header(reply.header, request, connection.structured_replies());
        const std::size_t head = request.offset % connection.disk().sector_size();
        reply.data = std::span<const std::byte>(buffer.data() + head, request.length);
    } else {
        const bool revoked = error == NbdErrno::eio && connection.cipher() == nullptr;
        reply.header_size =
            nbd::encode_status_reply(reply.header, request, connection.structured_replies(), error,
                                     message_of(error, revoked));
    }
    co_await connection.sender().send(reply);
    buffer.reset();
    connection.request_done(charged_bytes);
}

}  // namespace hostcrypt::daemon
