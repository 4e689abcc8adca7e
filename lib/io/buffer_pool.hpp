#pragma once

// Page-aligned I/O buffers in power-of-two size classes (4 KiB to 64 MiB),
// recycled per reactor: a request takes one for its data and gives it back
// when its reply is sent, so steady-state traffic allocates nothing. Page
// alignment lets the same buffers serve O_DIRECT backing stores.
//
// Thread safety: one pool per reactor, used only on its thread.

#include <array>
#include <cstddef>
#include <span>
#include <vector>

namespace hostcrypt::io {

class BufferPool;

// Owns one pooled buffer; gives it back when destroyed.
class Buffer {
  public:
    Buffer() noexcept = default;
    Buffer(Buffer&& other) noexcept;
    Buffer& operator=(Buffer&& other) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { reset(); }

    std::byte* data() const noexcept { return data_; }
    std::size_t capacity() const noexcept { return capacity_; }
    std::span<std::byte> first(std::size_t bytes) const noexcept { return {data_, bytes}; }
    explicit operator bool() const noexcept { return data_ != nullptr; }
    void reset() noexcept;

  private:
    friend class BufferPool;
    Buffer(BufferPool* pool, std::byte* data, std::size_t capacity) noexcept
        : pool_(pool), data_(data), capacity_(capacity) {}

    BufferPool* pool_ = nullptr;
    std::byte* data_ = nullptr;
    std::size_t capacity_ = 0;
};

class BufferPool {
  public:
    static constexpr std::size_t smallest = 4096;
    static constexpr std::size_t largest = std::size_t{64} << 20;

    // Keeps at most `max_idle_bytes` of returned buffers for reuse.
    explicit BufferPool(std::size_t max_idle_bytes = std::size_t{256} << 20);
    ~BufferPool();
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    // A buffer of at least `bytes` (at most `largest`); throws std::bad_alloc
    // when memory is exhausted, which callers turn into ENOMEM.
    Buffer acquire(std::size_t bytes);
    std::size_t idle_bytes() const noexcept { return idle_bytes_; }

  private:
    friend class Buffer;
    static constexpr std::size_t class_count = 15;  // 4 KiB << 0 .. 4 KiB << 14
    void give_back(std::byte* data, std::size_t capacity) noexcept;

    std::size_t max_idle_bytes_;
    std::size_t idle_bytes_ = 0;
    std::array<std::vector<std::byte*>, class_count> idle_;
};

}  // namespace hostcrypt::io
