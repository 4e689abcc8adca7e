#pragma once

// Every submission queue entry carries a pointer to a Completion as its
// user_data; the reactor hands the entry's result back to it. The object must
// stay alive until its completion arrives: owners never free one with an
// operation in flight.

#include <cstdint>

namespace hostcrypt::io {

class Completion {
  public:
    // `result` is the operation's return value or -errno.
    virtual void complete(int result, std::uint32_t flags) = 0;

  protected:
    ~Completion() = default;
};

}  // namespace hostcrypt::io
