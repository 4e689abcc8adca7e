#include "disk/key_slot.hpp"

namespace hostcrypt::disk {

KeySlot::KeySlot(std::shared_ptr<const DiskKeys> keys) : keys_(std::move(keys)) {}

KeySlot::Snapshot KeySlot::snapshot() const {
    std::lock_guard lock(mutex_);
    return Snapshot{keys_, generation_.load(std::memory_order_relaxed), revoked_reason_};
}

void KeySlot::install(std::shared_ptr<const DiskKeys> keys) {
    std::lock_guard lock(mutex_);
    keys_ = std::move(keys);
    revoked_reason_.clear();
    generation_.fetch_add(1, std::memory_order_release);
}

void KeySlot::revoke(std::string reason) {
    std::lock_guard lock(mutex_);
    keys_.reset();
    revoked_reason_ = std::move(reason);
    generation_.fetch_add(1, std::memory_order_release);
}

}  // namespace hostcrypt::disk
