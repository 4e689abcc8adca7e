#include "io/task.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

namespace hostcrypt::io {

void terminate_on_escaped_exception() noexcept {
    const char* what = "unknown exception";
    try {
        throw;
    } catch (const std::exception& error) {
        what = error.what();
    } catch (...) {
        // `what` already says it was not a std::exception.
    }
    std::fprintf(stderr, "hostcryptd: bug: exception escaped a reactor task: %s\n", what);
    std::abort();
}

}  // namespace hostcrypt::io
