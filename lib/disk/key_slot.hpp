#pragma once

// The data keys a served disk uses right now. Rotation and revocation replace
// them as one immutable snapshot (DiskKeys) and bump a generation counter; the
// data path reads only the counter per request (one atomic load) and takes
// the snapshot — under the slot's mutex — only when the counter has moved,
// to rebuild its own cipher stack. No request ever waits on a key change.
//
// Thread safety: every member may be called from any thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "disk/disk_keys.hpp"

namespace hostcrypt::disk {

class KeySlot {
  public:
    struct Snapshot {
        std::shared_ptr<const DiskKeys> keys;  // null while revoked
        std::uint64_t generation = 0;
        std::string revoked_reason;  // why keys is null
    };

    explicit KeySlot(std::shared_ptr<const DiskKeys> keys);

    std::uint64_t generation() const noexcept {
        return generation_.load(std::memory_order_acquire);
    }
    Snapshot snapshot() const;

    // Installs new keys (after rotation or when a revoked key is usable again).
    void install(std::shared_ptr<const DiskKeys> keys);
    // Drops the keys: the DEK copies are wiped when the last user lets go.
    void revoke(std::string reason);

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const DiskKeys> keys_;  // guarded by mutex_
    std::string revoked_reason_;            // guarded by mutex_
    std::atomic<std::uint64_t> generation_{1};
};

}  // namespace hostcrypt::disk
