#include "daemon/log.hpp"

#include <cerrno>
#include <string>
#include <unistd.h>

namespace hostcrypt::daemon {

void log_line(std::string_view message) {
    std::string line;
    line.reserve(message.size() + 13);
    line.append("hostcryptd: ").append(message).push_back('\n');
    const char* data = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        const ssize_t written = ::write(STDERR_FILENO, data, left);
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            // stderr is gone (closed or full beyond repair): there is nowhere
            // left to report this, and the daemon must keep serving.
            return;
        }
        data += written;
        left -= static_cast<std::size_t>(written);
    }
}

}  // namespace hostcrypt::daemon
