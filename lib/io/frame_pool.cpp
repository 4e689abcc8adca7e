#include "io/frame_pool.hpp"

#include <array>
#include <new>
#include <vector>

namespace hostcrypt::io {
namespace {

constexpr std::size_t granule = 64;
constexpr std::size_t pooled_classes = 64;  // frames up to 4 KiB are pooled
// A thread keeps at most this many free frames per class: enough for every
// request in flight, small enough that a burst does not pin memory forever.
constexpr std::size_t max_free_per_class = 4096;

std::size_t class_of(std::size_t size) noexcept {
    return (size + granule - 1) / granule;
}

struct FreeLists {
    std::array<std::vector<void*>, pooled_classes + 1> lists;
    ~FreeLists() {
        for (auto& list : lists) {
            for (void* frame : list) {
                ::operator delete(frame);
            }
        }
    }
};

FreeLists& free_lists() {
    thread_local FreeLists lists;
    return lists;
}

}  // namespace

// Under AddressSanitizer every frame goes to the heap, so a frame used
// after it ended is reported instead of silently reused.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool pooling = false;
#else
constexpr bool pooling = true;
#endif

void* FramePool::allocate(std::size_t size) {
    const std::size_t size_class = class_of(size);
    if (!pooling || size_class > pooled_classes) {
        return ::operator new(size);
    }
    auto& list = free_lists().lists[size_class];
    if (!list.empty()) {
        void* frame = list.back();
        list.pop_back();
        return frame;
    }
    return ::operator new(size_class* granule);
}

void FramePool::release(void* frame, std::size_t size) noexcept {
    const std::size_t size_class = class_of(size);
    if (!pooling || size_class > pooled_classes) {
        ::operator delete(frame);
        return;
    }
    auto& list = free_lists().lists[size_class];
    if (list.size() >= max_free_per_class) {
        ::operator delete(frame);
        return;
    }
    try {
        list.push_back(frame);
    } catch (const std::bad_alloc&) {
        // The free list could not grow: give the frame back to the heap.
        ::operator delete(frame);
    }
}

}  // namespace hostcrypt::io
