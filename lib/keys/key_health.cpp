#include "keys/key_health.hpp"

namespace hostcrypt::keys {

const char* to_string(KeyState state) noexcept {
    switch (state) {
        case KeyState::usable:
            return "usable";
        case KeyState::disabled:
            return "disabled";
        case KeyState::not_yet_valid:
            return "not-yet-valid";
        case KeyState::expired:
            return "expired";
        case KeyState::deleted:
            return "deleted";
        case KeyState::not_found:
            return "not-found";
        case KeyState::unreachable:
            return "unreachable";
    }
    return "unknown";
}

}  // namespace hostcrypt::keys
