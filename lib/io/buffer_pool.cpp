#include "io/buffer_pool.hpp"

#include <bit>
#include <cstdlib>
#include <new>
#include <utility>

namespace hostcrypt::io {
namespace {

constexpr std::size_t page_size = 4096;

std::size_t class_index(std::size_t capacity) noexcept {
    return static_cast<std::size_t>(std::countr_zero(capacity / BufferPool::smallest));
}

}  // namespace

Buffer::Buffer(Buffer&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
    if (this != &other) {
        reset();
        pool_ = std::exchange(other.pool_, nullptr);
        data_ = std::exchange(other.data_, nullptr);
        capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
}

void Buffer::reset() noexcept {
    if (data_ != nullptr) {
        pool_->give_back(data_, capacity_);
    }
    pool_ = nullptr;
    data_ = nullptr;
    capacity_ = 0;
}

BufferPool::BufferPool(std::size_t max_idle_bytes) : max_idle_bytes_(max_idle_bytes) {
    for (auto& list : idle_) {
        list.reserve(64);
    }
}

BufferPool::~BufferPool() {
    for (auto& list : idle_) {
        for (std::byte* data : list) {
            std::free(data);
        }
    }
}

Buffer BufferPool::acquire(std::size_t bytes) {
    if (bytes > largest) {
        throw std::bad_alloc();
    }
    const std::size_t capacity = std::bit_ceil(bytes < smallest ? smallest : bytes);
    auto& list = idle_[class_index(capacity)];
    if (!list.empty()) {
        std::byte* data = list.back();
        list.pop_back();
        idle_bytes_ -= capacity;
        return Buffer(this, data, capacity);
    }
    void* data = std::aligned_alloc(page_size, capacity);
    if (data == nullptr) {
        throw std::bad_alloc();
    }
    return Buffer(this, static_cast<std::byte*>(data), capacity);
}

void BufferPool::give_back(std::byte* data, std::size_t capacity) noexcept {
    auto& list = idle_[class_index(capacity)];
    if (idle_bytes_ + capacity > max_idle_bytes_ || list.size() == list.capacity()) {
        // Keeping it would either exceed the idle budget or need the free
        // list to grow (an allocation that could fail here).
        std::free(data);
        return;
    }
    list.push_back(data);
    idle_bytes_ += capacity;
}

}  // namespace hostcrypt::io
