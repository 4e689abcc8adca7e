// Coroutine frames: a thread hands a freed frame of a size class out again;
// under AddressSanitizer every frame comes from the heap instead.

#include "io/frame_pool.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using hostcrypt::io::FramePool;

namespace {

// Fills a frame completely, so a frame smaller than asked for shows up
// (under AddressSanitizer, as a heap overflow).
void use_frame(void* frame, std::size_t size) {
    REQUIRE(frame != nullptr);
    std::memset(frame, 0x5a, size);
}

// Runs `body` on a fresh thread, whose free lists start empty.
template <typename Body>
void on_fresh_thread(Body body) {
    std::thread thread(body);
    thread.join();
}

std::vector<void*> allocate_frames(std::size_t count, std::size_t size) {
    std::vector<void*> frames(count);
    for (void*& frame : frames) {
        frame = FramePool::allocate(size);
    }
    return frames;
}

void release_frames(const std::vector<void*>& frames, std::size_t size) {
    for (void* frame : frames) {
        FramePool::release(frame, size);
    }
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool pooling = false;
#else
constexpr bool pooling = true;
#endif

}  // namespace

TEST_CASE("a freed frame is handed out again for its size class on the same thread",
          "[io][frame_pool]") {
    on_fresh_thread([] {
        void* frame = FramePool::allocate(100);
        use_frame(frame, 100);
        FramePool::release(frame, 100);

        // 100 and 120 bytes round up to the same 64-byte granule class.
        void* again = FramePool::allocate(120);
        use_frame(again, 120);
        if constexpr (pooling) {
            CHECK(again == frame);
        } else {
            // Pass-through: the frame went back to the heap, where ASan's
            // quarantine keeps it from being handed out again at once.
            CHECK(again != frame);
        }
        // Another class never gets it: `again` is still live.
        void* other = FramePool::allocate(200);
        use_frame(other, 200);
        CHECK(other != again);

        FramePool::release(other, 200);
        FramePool::release(again, 120);
    });
}

TEST_CASE("freed frames come back newest first and a thread keeps at most 4096 of a class",
          "[io][frame_pool]") {
    if constexpr (!pooling) {
        SUCCEED("pooling is off under AddressSanitizer");
        return;
    }
    on_fresh_thread([] {
        const std::vector<void*> frames = allocate_frames(4097, 1000);
        release_frames(frames, 1000);  // the last one goes back to the heap
        const std::vector<void*> again = allocate_frames(4096, 1000);
        // Handed out newest first: frames[4095] down to frames[0].
        CHECK(std::equal(again.begin(), again.end(), frames.rbegin() + 1));
        release_frames(again, 1000);
    });
}

TEST_CASE("frames larger than 4 KiB come from the heap and are whole", "[io][frame_pool]") {
    const std::size_t size = GENERATE(std::size_t{4097}, std::size_t{5000}, std::size_t{1} << 20);
    INFO("frame of " << size << " bytes");
    void* frame = FramePool::allocate(size);
    use_frame(frame, size);
    void* second = FramePool::allocate(size);
    use_frame(second, size);
    CHECK(second != frame);
    FramePool::release(second, size);
    FramePool::release(frame, size);
}
