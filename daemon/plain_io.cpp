#include "daemon/plain_io.hpp"

#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include "daemon/log.hpp"
#include "daemon/sector_io.hpp"
#include "disk/sector_codec.hpp"
#include "io/resume_on.hpp"

namespace hostcrypt::daemon {

namespace {

using nbd::NbdErrno;
using Lookup = disk::HostCache::Lookup;

// A write larger than this share of the cache goes around it: it could
// never find that many free slots at once.
constexpr std::uint64_t largest_cached_write_share = 4;

NbdErrno from_errno(int negative_errno) noexcept {
    switch (-negative_errno) {
        case ENOSPC:
        case EDQUOT:
        case EFBIG:
            return NbdErrno::enospc;
        case ENOMEM:
            return NbdErrno::enomem;
        case EOPNOTSUPP:
            return NbdErrno::enotsup;
        default:
            return NbdErrno::eio;
    }
}

NbdErrno cache_failure(Connection& connection, const char* what, int negative_errno) {
    log("{}: {} on host cache {} failed: {}", connection.label(), what,
        connection.disk().cache()->path().string(), std::strerror(-negative_errno));
    return from_errno(negative_errno);
}

// co_await on_cache_callback(reactor, register): registers a callback with
// the host cache (which may call it on its write-back thread) and resumes
// on `reactor` with the callback's result.
template <typename Register>
auto on_cache_callback(io::Reactor& reactor, Register register_callback) {
    struct Awaiter {
        io::Reactor& reactor;
        Register register_callback;
        int result = 0;

        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> waiter) {
            io::Reactor* home = &reactor;
            register_callback([this, home, waiter](int value) {
                result = value;
                home->post([waiter] { waiter.resume(); });
            });
        }
        int await_resume() const noexcept { return result; }
    };
    return Awaiter{reactor, std::move(register_callback)};
}

SectorIo cache_io(Connection& connection) {
    const disk::HostCache& cache = *connection.disk().cache();
    return SectorIo(connection.reactor(), cache.backend(), cache.data_offset(),
                    connection.disk().sector_size());
}

// Writes `bytes` (one sector per slot) into `slots` of the cache file, one
// request per run of consecutive slots; 0 or -errno.
io::Task<int> write_slots(Connection& connection, std::span<const std::byte> bytes,
                          std::span<const std::uint64_t> slots) {
    const std::size_t sector_size = connection.disk().sector_size();
    std::size_t run = 0;
    for (std::size_t i = 1; i <= slots.size(); ++i) {
        if (i == slots.size() || slots[i] != slots[i - 1] + 1) {
            const int result =
                co_await cache_io(connection)
                    .write(bytes.subspan(run * sector_size, (i - run) * sector_size), slots[run]);
            if (result < 0) {
                co_return result;
            }
            run = i;
        }
    }
    co_return 0;
}

// Both disk steps below run on another reactor when the connection can lend
// them (daemon/helping_hands.hpp), and come home before they answer.
io::Task<NbdErrno> read_disk_sectors(Connection& connection, std::span<std::byte> sectors,
                                     std::uint64_t first) {
    const HelpingHands::Hand hand = connection.helping_hands().borrow(sectors.size());
    if (hand) {
        co_await io::resume_on(*hand.reactor);
    }
    io::Reactor& reactor = hand ? *hand.reactor : connection.reactor();
    const int result = co_await SectorIo(reactor, connection.disk()).read(sectors, first);
    // Decrypted where it was read, unless the keys changed while the step
    // travelled: then home decides with the keys it has now.
    bool decrypted = false;
    if (result >= 0 && hand && connection.helping_hands().keys_unchanged(hand)) {
        disk::decrypt_sectors(*hand.cipher, sectors, first);
        decrypted = true;
    }
    if (hand) {
        co_await io::resume_on(connection.reactor());
        connection.helping_hands().give_back(hand);
    }
    if (result < 0) {
        co_return storage_failure(connection, "read", result);
    }
    crypto::CipherStack* cipher = connection.cipher();
    if (cipher == nullptr) {
        co_return NbdErrno::eio;  // revoked meanwhile: nothing is sent
    }
    if (!decrypted) {
        disk::decrypt_sectors(*cipher, sectors, first);
    }
    co_return NbdErrno::none;
}

// Puts sectors [first, first + count) just read from the disk (plaintext
// in `plain`) into the cache, if it has room without writing back.
io::Task<bool> fill_cache(Connection& connection, std::span<const std::byte> plain,
                          std::uint64_t first, std::span<const Lookup> looked_up) {
    disk::HostCache& cache = *connection.disk().cache();
    std::vector<std::uint64_t> slots(looked_up.size());
    if (!cache.reserve(slots)) {
        co_return false;
    }
    io::Buffer scratch;
    try {
        scratch = connection.reactor().buffers().acquire(plain.size());
    } catch (const std::bad_alloc&) {
        cache.cancel(slots);
        co_return false;
    }
    crypto::CipherStack* cache_cipher = connection.cache_cipher();
    if (cache_cipher == nullptr) {
        cache.cancel(slots);
        co_return false;
    }
    const std::span<std::byte> sealed = scratch.first(plain.size());
    cache_cipher->encrypt(plain, sealed, first);
    const int result = co_await write_slots(connection, sealed, slots);
    if (result < 0) {
        cache.cancel(slots);
        cache_failure(connection, "fill", result);  // the read itself succeeded
        co_return false;
    }
    cache.publish_fill(first, slots, looked_up);
    co_return true;
}

io::Task<NbdErrno> read_through_cache(Connection& connection, std::span<std::byte> sectors,
                                      std::uint64_t first) {
    disk::HostCache& cache = *connection.disk().cache();
    const std::size_t sector_size = connection.disk().sector_size();
    const std::size_t count = sectors.size() / sector_size;
    std::vector<Lookup> found(count);
    cache.lookup(first, found);

    NbdErrno error = NbdErrno::none;
    std::size_t run = 0;
    while (run < count && error == NbdErrno::none) {
        std::size_t end = run + 1;
        const bool hit = found[run].slot.has_value();
        while (end < count && found[end].slot.has_value() == hit &&
               (!hit || *found[end].slot == *found[end - 1].slot + 1)) {
            ++end;
        }
        const std::span<std::byte> part =
            sectors.subspan(run * sector_size, (end - run) * sector_size);
        if (hit) {
            const int result = co_await cache_io(connection).read(part, *found[run].slot);
            crypto::CipherStack* cache_cipher = connection.cache_cipher();
            if (result < 0) {
                error = cache_failure(connection, "read", result);
            } else if (cache_cipher == nullptr) {
                error = NbdErrno::eio;
            } else {
                cache_cipher->decrypt(part, first + run);
            }
        } else {
            error = co_await read_disk_sectors(connection, part, first + run);
        }
        run = end;
    }
    cache.unpin(found);
    if (error != NbdErrno::none) {
        co_return error;
    }
    for (run = 0; run < count;) {
        std::size_t end = run;
        while (end < count && !found[end].slot) {
            ++end;
        }
        if (end > run) {
            co_await fill_cache(
                connection, sectors.subspan(run * sector_size, (end - run) * sector_size),
                first + run, std::span<const Lookup>(found).subspan(run, end - run));
        }
        run = end + 1;
    }
    co_return NbdErrno::none;
}

io::Task<NbdErrno> write_to_cache(Connection& connection, std::span<std::byte> sectors,
                                  std::uint64_t first) {
    disk::HostCache& cache = *connection.disk().cache();
    std::vector<std::uint64_t> slots(sectors.size() / connection.disk().sector_size());
    for (;;) {
        if (cache.reserve(slots)) {
            break;
        }
        const int result = co_await on_cache_callback(
            connection.reactor(),
            [&cache](disk::HostCache::Done done) { cache.when_slots_free(std::move(done)); });
        if (result < 0) {
            co_return NbdErrno::eio;  // revoked, or the cache is closing
        }
    }
    crypto::CipherStack* cache_cipher = connection.cache_cipher();
    if (cache_cipher == nullptr) {
        cache.cancel(slots);
        co_return NbdErrno::eio;
    }
    cache_cipher->encrypt(sectors, first);
    const int result = co_await write_slots(connection, sectors, slots);
    if (result < 0) {
        cache.cancel(slots);
        co_return cache_failure(connection, "write", result);
    }
    cache.publish_writes(first, slots);
    co_return NbdErrno::none;
}

}  // namespace

NbdErrno storage_failure(Connection& connection, const char* what, int negative_errno) {
    log("{}: {} on {} failed: {}", connection.label(), what, connection.disk().backend().name(),
        std::strerror(-negative_errno));
    return from_errno(negative_errno);
}

io::Task<NbdErrno> read_sectors(Connection& connection, std::span<std::byte> sectors,
                                std::uint64_t first) {
    // Revoked keys: nothing is read, from the disk or the cache.
    if (connection.cipher() == nullptr) {
        co_return NbdErrno::eio;
    }
    if (connection.disk().cache() == nullptr) {
        co_return co_await read_disk_sectors(connection, sectors, first);
    }
    co_return co_await read_through_cache(connection, sectors, first);
}

io::Task<NbdErrno> write_disk_sectors(Connection& connection, std::span<std::byte> sectors,
                                      std::uint64_t first) {
    crypto::CipherStack* cipher = connection.cipher();
    if (cipher == nullptr) {
        co_return NbdErrno::eio;
    }
    const HelpingHands::Hand hand = connection.helping_hands().borrow(sectors.size());
    if (hand) {
        co_await io::resume_on(*hand.reactor);
        if (connection.helping_hands().keys_unchanged(hand)) {
            disk::encrypt_sectors(*hand.cipher, sectors, first);
            const int result =
                co_await SectorIo(*hand.reactor, connection.disk()).write(sectors, first);
            co_await io::resume_on(connection.reactor());
            connection.helping_hands().give_back(hand);
            co_return result < 0 ? storage_failure(connection, "write", result) : NbdErrno::none;
        }
        // The keys changed while the step travelled: home writes it, with
        // the keys it has now, or answers EIO if they are revoked.
        co_await io::resume_on(connection.reactor());
        connection.helping_hands().give_back(hand);
        cipher = connection.cipher();
        if (cipher == nullptr) {
            co_return NbdErrno::eio;
        }
    }
    disk::encrypt_sectors(*cipher, sectors, first);
    const int result =
        co_await SectorIo(connection.reactor(), connection.disk()).write(sectors, first);
    co_return result < 0 ? storage_failure(connection, "write", result) : NbdErrno::none;
}

io::Task<NbdErrno> write_sectors(Connection& connection, std::span<std::byte> sectors,
                                 std::uint64_t first) {
    if (connection.cipher() == nullptr) {
        co_return NbdErrno::eio;
    }
    disk::HostCache* cache = connection.disk().cache();
    if (cache == nullptr) {
        co_return co_await write_disk_sectors(connection, sectors, first);
    }
    const std::uint64_t count = sectors.size() / connection.disk().sector_size();
    if (cache->mode() == disk::CacheMode::read_write) {
        if (count <= cache->slot_count() / largest_cached_write_share) {
            co_return co_await write_to_cache(connection, sectors, first);
        }
        // Dirty copies of these sectors must neither be read after this
        // write nor written back over it.
        const NbdErrno error = co_await go_around_cache(connection, first, first + count);
        if (error != NbdErrno::none) {
            co_return error;
        }
    }
    const NbdErrno written = co_await write_disk_sectors(connection, sectors, first);
    // Forgotten once the disk has the write: a read that filled the cache
    // while the write ran may have cached what the disk held before it (a
    // read-only cache never holds anything newer than the disk).
    cache->invalidate(first, first + count);
    co_return written;
}

io::Task<NbdErrno> go_around_cache(Connection& connection, std::uint64_t first, std::uint64_t end) {
    disk::HostCache* cache = connection.disk().cache();
    if (cache == nullptr) {
        co_return NbdErrno::none;
    }
    cache->invalidate(first, end);
    if (cache->mode() == disk::CacheMode::read_only) {
        co_return NbdErrno::none;  // no write-back to wait for
    }
    const int result = co_await on_cache_callback(
        connection.reactor(),
        [cache](disk::HostCache::Done done) { cache->when_write_back_idle(std::move(done)); });
    co_return result < 0 ? NbdErrno::eio : NbdErrno::none;
}

io::Task<NbdErrno> make_durable(Connection& connection) {
    disk::HostCache* cache = connection.disk().cache();
    if (cache != nullptr && cache->mode() == disk::CacheMode::read_write) {
        if (connection.cipher() == nullptr) {
            co_return NbdErrno::eio;
        }
        const int result = co_await on_cache_callback(
            connection.reactor(),
            [cache](disk::HostCache::Done done) { cache->when_written_back(std::move(done)); });
        if (result < 0) {
            log("{}: flush: the host cache's dirty sectors could not all be written back to "
                "the disk: {}",
                connection.label(), std::strerror(-result));
            co_return NbdErrno::eio;
        }
    }
    const int result = co_await SectorIo(connection.reactor(), connection.disk()).flush();
    co_return result < 0 ? storage_failure(connection, "flush", result) : NbdErrno::none;
}

}  // namespace hostcrypt::daemon
