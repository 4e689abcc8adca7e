#pragma once

// Retrying an attempt that fails for a while for a reason expected to pass
// (another process holding a lock, a killed process's socket not yet torn
// down), until a deadline.

#include <chrono>
#include <thread>

namespace hostcrypt {

// Calls `attempt` until it returns without throwing `Transient`, waiting
// `pause` between tries; once `wait` has passed, the last `Transient` is
// rethrown. Anything else `attempt` throws ends the retries at once.
template <typename Transient, typename Attempt>
auto retry_for(std::chrono::milliseconds wait, Attempt&& attempt,
               std::chrono::milliseconds pause = std::chrono::milliseconds(100)) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        try {
            return attempt();
        } catch (const Transient&) {
            if (std::chrono::steady_clock::now() >= deadline) {
                throw;
            }
            std::this_thread::sleep_for(pause);
        }
    }
}

}  // namespace hostcrypt
