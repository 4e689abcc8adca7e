#include "io/io_error.hpp"

#include <cstring>

namespace hostcrypt::io {

void throw_io_error(const std::string& what, int errnum) {
    throw IoError(what + ": " + std::strerror(errnum));
}

}  // namespace hostcrypt::io
