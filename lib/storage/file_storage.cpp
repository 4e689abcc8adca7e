#include "storage/file_storage.hpp"

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

namespace fs = std::filesystem;

std::unique_ptr<FileStorage> FileStorage::open(const fs::path& path, Mode mode) {
    UniqueFd fd = open_file(path, mode == Mode::read_only ? O_RDONLY : O_RDWR);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw Error(fmt::format("cannot inspect {}: {}", path.string(), std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        throw Error(fmt::format("{} is neither a regular file nor a block device", path.string()));
    }
    return std::unique_ptr<FileStorage>(new FileStorage(std::move(fd), path.string()));
}

std::unique_ptr<FileStorage> FileStorage::create(const fs::path& path, std::uint64_t size) {
    UniqueFd fd = open_file(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        const int error_number = errno;
        ::unlink(path.c_str());
        throw Error(fmt::format("cannot size {} to {} bytes: {}", path.string(), size,
                                std::strerror(error_number)));
    }
    return std::unique_ptr<FileStorage>(new FileStorage(std::move(fd), path.string()));
}

std::uint64_t FileStorage::size() const {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) {
        throw Error(fmt::format("cannot inspect {}: {}", name_, std::strerror(errno)));
    }
    if (S_ISBLK(st.st_mode)) {
        std::uint64_t bytes = 0;
        if (::ioctl(fd_.get(), BLKGETSIZE64, &bytes) != 0) {
            throw Error(
                fmt::format("cannot size block device {}: {}", name_, std::strerror(errno)));
        }
        return bytes;
    }
    return static_cast<std::uint64_t>(st.st_size);
}

std::size_t FileStorage::read_at(std::span<std::byte> bytes, std::uint64_t offset) {
    return read_at_most(fd_.get(), bytes, offset, name_);
}

void FileStorage::write_at(std::span<const std::byte> bytes, std::uint64_t offset) {
    write_all_at(fd_.get(), bytes, offset, name_);
}

void FileStorage::sync() {
    sync_file(fd_.get(), name_);
}

}  // namespace hostcrypt::storage
