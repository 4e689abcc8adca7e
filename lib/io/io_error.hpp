#pragma once

// Failures to set up the I/O machinery itself (a ring that cannot be created,
// an eventfd the kernel refuses). Per-request I/O results are never thrown:
// they travel as values (docs/errors.md, rule 2).

#include <string>

#include "common/error.hpp"

namespace hostcrypt::io {

class IoError : public Error {
  public:
    using Error::Error;
};

// Throws IoError("<what>: <strerror(errnum)>").
[[noreturn]] void throw_io_error(const std::string& what, int errnum);

}  // namespace hostcrypt::io
