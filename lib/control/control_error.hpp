#pragma once

// How a failed control call is described, in the daemon and in the command
// line alike: a stable kind ("not-found", "key-unusable", ...) and the exit
// code that goes with it (exit_codes.hpp).

#include <exception>
#include <string>

#include "common/error.hpp"

namespace hostcrypt::control {

struct ErrorClass {
    int code;          // an ExitCode
    std::string kind;  // stable, for scripts: "not-found", "unauthorized", ...
};

// A failure that already carries its class: raised by the API layer itself
// (bad parameters, a refused role) and, on the client side, by every error
// the daemon answered with.
class ControlError : public Error {
  public:
    ControlError(int code, std::string kind, const std::string& message)
        : Error(message), class_{code, std::move(kind)} {}
    const ErrorClass& error_class() const noexcept { return class_; }

  private:
    ErrorClass class_;
};

// Parameters that are missing, of the wrong type or out of range.
ControlError invalid_params(const std::string& message);

// The class of any exception a control method can throw: the library's
// typed errors map to their kinds, anything else is "failed".
ErrorClass classify(const std::exception& error);

}  // namespace hostcrypt::control
