// The per-reactor buffer pool: size classes, page alignment, reuse of
// returned buffers, the idle budget, and Buffer's ownership rules.

#include "io/buffer_pool.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

using hostcrypt::io::Buffer;
using hostcrypt::io::BufferPool;

namespace {

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;

std::uintptr_t address_of(const Buffer& buffer) {
    return reinterpret_cast<std::uintptr_t>(buffer.data());
}

}  // namespace

TEST_CASE("buffer pool sizes are powers of two from 4 KiB to 64 MiB", "[io][buffer_pool]") {
    const auto [asked, expected] = GENERATE(table<std::size_t, std::size_t>({
        {0, 4 * kib},
        {1, 4 * kib},
        {4 * kib, 4 * kib},
        {4 * kib + 1, 8 * kib},
        {12 * kib, 16 * kib},
        {mib - 1, mib},
        {3 * mib + 1, 4 * mib},
        {32 * mib + 1, 64 * mib},
        {64 * mib, 64 * mib},
    }));
    INFO("asked for " << asked);
    BufferPool pool;
    const Buffer buffer = pool.acquire(asked);
    REQUIRE(buffer);
    CHECK(buffer.capacity() == expected);
    CHECK(address_of(buffer) % 4096 == 0);
    // The whole capacity is usable memory.
    std::memset(buffer.data(), 0xa5, buffer.capacity());
    CHECK(buffer.data()[buffer.capacity() - 1] == std::byte{0xa5});
    CHECK(pool.idle_bytes() == 0);
}

TEST_CASE("buffer pool constants span fifteen classes", "[io][buffer_pool]") {
    CHECK(BufferPool::smallest == 4096);
    CHECK(BufferPool::largest == 64 * mib);
    CHECK(BufferPool::largest == BufferPool::smallest << 14);
}

TEST_CASE("a returned buffer is handed out again for a request of its class", "[io][buffer_pool]") {
    BufferPool pool;
    Buffer first = pool.acquire(5000);
    std::byte* const data = first.data();
    REQUIRE(first.capacity() == 8 * kib);
    first.reset();
    CHECK_FALSE(first);
    CHECK(pool.idle_bytes() == 8 * kib);

    // Another class does not take it...
    const Buffer other = pool.acquire(4 * kib);
    CHECK(other.data() != data);
    CHECK(pool.idle_bytes() == 8 * kib);

    // ...any size of its own class does.
    const Buffer again = pool.acquire(8 * kib);
    CHECK(again.data() == data);
    CHECK(again.capacity() == 8 * kib);
    CHECK(pool.idle_bytes() == 0);
}

TEST_CASE("returned buffers come back last in first out", "[io][buffer_pool]") {
    BufferPool pool;
    Buffer a = pool.acquire(16 * kib);
    Buffer b = pool.acquire(16 * kib);
    std::byte* const a_data = a.data();
    std::byte* const b_data = b.data();
    REQUIRE(a_data != b_data);
    a.reset();
    b.reset();
    CHECK(pool.idle_bytes() == 32 * kib);
    const Buffer first = pool.acquire(16 * kib);
    const Buffer second = pool.acquire(16 * kib);
    CHECK(first.data() == b_data);
    CHECK(second.data() == a_data);
    CHECK(pool.idle_bytes() == 0);
}

TEST_CASE("buffers beyond the idle budget are freed and not kept", "[io][buffer_pool]") {
    BufferPool pool(20 * kib);
    std::vector<Buffer> buffers;
    std::set<std::byte*> addresses;
    for (int i = 0; i < 3; ++i) {
        buffers.push_back(pool.acquire(8 * kib));
        addresses.insert(buffers.back().data());
    }
    buffers.clear();
    // Two fit the 20 KiB budget; the third is freed.
    CHECK(pool.idle_bytes() == 16 * kib);

    // A buffer larger than the whole budget is never kept.
    pool.acquire(32 * kib).reset();
    CHECK(pool.idle_bytes() == 16 * kib);

    // A smaller class still fits in what is left.
    Buffer small = pool.acquire(4 * kib);
    small.reset();
    CHECK(pool.idle_bytes() == 20 * kib);

    // The two kept buffers are two of the three handed out before.
    const Buffer x = pool.acquire(8 * kib);
    const Buffer y = pool.acquire(8 * kib);
    CHECK(addresses.count(x.data()) == 1);
    CHECK(addresses.count(y.data()) == 1);
    CHECK(pool.idle_bytes() == 4 * kib);
}

TEST_CASE("a pool with no idle budget keeps nothing", "[io][buffer_pool]") {
    BufferPool pool(0);
    pool.acquire(4 * kib).reset();
    pool.acquire(mib).reset();
    CHECK(pool.idle_bytes() == 0);
}

TEST_CASE("each size class keeps at most 64 idle buffers", "[io][buffer_pool]") {
    // The free list never grows while a buffer is given back (that could
    // fail), so a class keeps what its reserved list holds even when the
    // byte budget would allow more.
    BufferPool pool;
    std::vector<Buffer> buffers;
    for (int i = 0; i < 100; ++i) {
        buffers.push_back(pool.acquire(4 * kib));
    }
    buffers.clear();
    CHECK(pool.idle_bytes() == 64 * 4 * kib);
}

TEST_CASE("moving a buffer moves ownership: it goes back to the pool once", "[io][buffer_pool]") {
    BufferPool pool;
    Buffer source = pool.acquire(4 * kib);
    std::byte* const data = source.data();

    Buffer moved(std::move(source));
    CHECK_FALSE(source);
    CHECK(source.data() == nullptr);
    CHECK(source.capacity() == 0);
    CHECK(moved.data() == data);
    CHECK(moved.capacity() == 4 * kib);
    CHECK(pool.idle_bytes() == 0);

    source.reset();  // a moved-from buffer gives nothing back
    CHECK(pool.idle_bytes() == 0);

    SECTION("move assignment returns the buffer it replaces") {
        Buffer target = pool.acquire(64 * kib);
        target = std::move(moved);
        CHECK(target.data() == data);
        CHECK(pool.idle_bytes() == 64 * kib);
        target.reset();
        CHECK(pool.idle_bytes() == 68 * kib);
    }
    SECTION("self move assignment keeps the buffer") {
        Buffer& alias = moved;
        moved = std::move(alias);
        CHECK(moved.data() == data);
        CHECK(pool.idle_bytes() == 0);
    }
    SECTION("destruction returns it") {
        { const Buffer last = std::move(moved); }
        CHECK(pool.idle_bytes() == 4 * kib);
    }
}

TEST_CASE("a default buffer owns nothing", "[io][buffer_pool]") {
    Buffer buffer;
    CHECK_FALSE(buffer);
    CHECK(buffer.data() == nullptr);
    CHECK(buffer.capacity() == 0);
    buffer.reset();
    CHECK_FALSE(buffer);
}

TEST_CASE("first(n) views the start of the buffer", "[io][buffer_pool]") {
    BufferPool pool;
    const Buffer buffer = pool.acquire(4 * kib);
    const std::span<std::byte> view = buffer.first(100);
    CHECK(view.data() == buffer.data());
    CHECK(view.size() == 100);
}

TEST_CASE("a buffer larger than 64 MiB is refused with bad_alloc", "[io][buffer_pool][errors]") {
    BufferPool pool;
    const std::size_t too_large = GENERATE(BufferPool::largest + 1, 2 * BufferPool::largest,
                                           std::numeric_limits<std::size_t>::max());
    INFO("asked for " << too_large);
    CHECK_THROWS_AS(pool.acquire(too_large), std::bad_alloc);
    CHECK(pool.idle_bytes() == 0);
}
