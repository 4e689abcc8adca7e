#pragma once

#include <string>

#include "common/error.hpp"

namespace hostcrypt::instance {

// Each way an instance operation can be refused; every message names the
// instance.
enum class InstanceErrc {
    not_found,
    already_exists,
    invalid_argument,  // a bad name, size or disk for the instance
    conflict,          // the request contradicts the instance's state (attached elsewhere, ...)
    corrupt,           // an instance record that cannot be read
};

class InstanceError : public Error {
  public:
    InstanceError(InstanceErrc code, const std::string& message) : Error(message), code_(code) {}
    InstanceErrc code() const noexcept { return code_; }

  private:
    InstanceErrc code_;
};

}  // namespace hostcrypt::instance
