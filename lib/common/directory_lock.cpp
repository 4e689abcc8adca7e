#include "common/directory_lock.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"

namespace hostcrypt {

DirectoryLock::DirectoryLock(const std::filesystem::path& directory)
    : fd_(open_file(directory / ".lock", O_RDWR | O_CREAT, 0600)) {
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            throw Error(
                fmt::format("{} is in use by another hostcrypt process (a running "
                            "hostcryptd, or another command); try again, or use the "
                            "daemon's control socket",
                            directory.string()));
        }
        throw Error(fmt::format("cannot lock {}: {}", (directory / ".lock").string(),
                                std::strerror(errno)));
    }
}

}  // namespace hostcrypt
