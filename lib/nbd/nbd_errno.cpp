#include "nbd/nbd_errno.hpp"

namespace hostcrypt::nbd {

const char* to_string(NbdErrno error) noexcept {
    switch (error) {
        case NbdErrno::none:
            return "none";
        case NbdErrno::eperm:
            return "EPERM";
        case NbdErrno::eio:
            return "EIO";
        case NbdErrno::enomem:
            return "ENOMEM";
        case NbdErrno::einval:
            return "EINVAL";
        case NbdErrno::enospc:
            return "ENOSPC";
        case NbdErrno::eoverflow:
            return "EOVERFLOW";
        case NbdErrno::enotsup:
            return "ENOTSUP";
        case NbdErrno::eshutdown:
            return "ESHUTDOWN";
    }
    return "unknown";
}

}  // namespace hostcrypt::nbd
