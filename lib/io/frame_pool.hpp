#pragma once

// Coroutine frames of the data path come from here, not from the general heap:
// each thread keeps freed frames in per-size free lists and hands them out
// again, so a reactor in steady state allocates nothing per request.

#include <cstddef>

namespace hostcrypt::io {

class FramePool {
  public:
    static void* allocate(std::size_t size);
    static void release(void* frame, std::size_t size) noexcept;
};

}  // namespace hostcrypt::io
