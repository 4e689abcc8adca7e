#pragma once

// Whether a key version can wrap and unwrap right now, and if not, why.
// Revocation (a disk's I/O failing after a grace period) is driven by this.

#include <string>

namespace hostcrypt::keys {

enum class KeyState {
    usable,
    disabled,       // an operator disabled the key
    not_yet_valid,  // before its not-before time
    expired,        // after its expiry time
    deleted,        // soft-deleted (recoverable until purged)
    not_found,      // no such key or version (or purged)
    unreachable,    // the provider could not be asked: not a revocation
};

const char* to_string(KeyState state) noexcept;

struct KeyHealth {
    KeyState state = KeyState::usable;
    std::string reason;  // for people; empty when usable

    bool usable() const noexcept { return state == KeyState::usable; }
};

}  // namespace hostcrypt::keys
