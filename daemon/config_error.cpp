#include "daemon/config_error.hpp"

namespace hostcrypt::daemon {

const char* to_string(ConfigErrc code) noexcept {
    switch (code) {
        case ConfigErrc::not_found:
            return "not-found";
        case ConfigErrc::unreadable:
            return "unreadable";
        case ConfigErrc::syntax:
            return "syntax";
        case ConfigErrc::unknown_key:
            return "unknown-key";
        case ConfigErrc::wrong_type:
            return "wrong-type";
        case ConfigErrc::invalid_value:
            return "invalid-value";
    }
    return "unknown";
}

}  // namespace hostcrypt::daemon
