#pragma once

// Failures of NBD operations that are asked for once (building a handshake,
// accepting an export), as opposed to a request's failure, which is an
// NbdErrno value (docs/errors.md).

#include <string>

#include "common/error.hpp"

namespace hostcrypt::nbd {

enum class NbdErrc {
    invalid_argument,  // a limit outside the range this codec supports
    invalid_export,    // an export whose name, description or block sizes break the spec
};

const char* to_string(NbdErrc code) noexcept;

class NbdError : public Error {
  public:
    NbdError(NbdErrc code, const std::string& message) : Error(message), code_(code) {}
    NbdErrc code() const noexcept { return code_; }

  private:
    NbdErrc code_;
};

}  // namespace hostcrypt::nbd
