#pragma once

// The error values an NBD reply may carry. The spec restricts them to this
// list (whatever the server's own errno values are), so a request's failure
// on the data path is one of these, travelling as a value (docs/errors.md).

#include <cstdint>

namespace hostcrypt::nbd {

enum class NbdErrno : std::uint32_t {
    none = 0,
    eperm = 1,
    eio = 5,
    enomem = 12,
    einval = 22,
    enospc = 28,
    eoverflow = 75,
    enotsup = 95,
    eshutdown = 108,
};

// "EPERM", "EINVAL", ...; "none" for success, "unknown" for a value outside
// the list.
const char* to_string(NbdErrno error) noexcept;

}  // namespace hostcrypt::nbd
