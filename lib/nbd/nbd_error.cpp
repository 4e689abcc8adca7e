#include "nbd/nbd_error.hpp"

namespace hostcrypt::nbd {

const char* to_string(NbdErrc code) noexcept {
    switch (code) {
        case NbdErrc::invalid_argument:
            return "invalid-argument";
        case NbdErrc::invalid_export:
            return "invalid-export";
    }
    return "unknown";
}

}  // namespace hostcrypt::nbd
