#include "storage/backing_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"

namespace hostcrypt::storage {

namespace {

struct stat inspect(int fd, const std::string& name) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw Error(fmt::format("cannot inspect {}: {}", name, std::strerror(errno)));
    }
    return st;
}

}  // namespace

UniqueFd open_backing_file(const std::filesystem::path& path, int flags) {
    // O_NONBLOCK until the type is known: opening a fifo for reading would
    // otherwise wait for a writer forever instead of being refused.
    UniqueFd fd = open_file(path, flags | O_NONBLOCK);
    const struct stat st = inspect(fd.get(), path.string());
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        throw Error(fmt::format("{} is neither a regular file nor a block device", path.string()));
    }
    const int status = ::fcntl(fd.get(), F_GETFL);
    if ((flags & O_NONBLOCK) == 0 &&
        (status < 0 || ::fcntl(fd.get(), F_SETFL, status & ~O_NONBLOCK) != 0)) {
        throw Error(fmt::format("cannot configure {}: {}", path.string(), std::strerror(errno)));
    }
    return fd;
}

std::uint64_t backing_size(int fd, const std::string& name) {
    const struct stat st = inspect(fd, name);
    if (S_ISBLK(st.st_mode)) {
        std::uint64_t bytes = 0;
        if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
            throw Error(fmt::format("cannot size block device {}: {}", name, std::strerror(errno)));
        }
        return bytes;
    }
    return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace hostcrypt::storage
