#pragma once

// The project's error rule (docs/errors.md) in one sentence: an operation that
// cannot do what it was asked throws a hostcrypt::Error subclass, except on the
// per-request data path, where failure is an expected outcome and travels as a
// value. Every Error says what failed and, where the user can act, what to do.

#include <stdexcept>
#include <string>

namespace hostcrypt {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace hostcrypt
