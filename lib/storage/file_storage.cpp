#include "storage/file_storage.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "storage/backing_file.hpp"

namespace hostcrypt::storage {

namespace fs = std::filesystem;

std::unique_ptr<FileStorage> FileStorage::open(const fs::path& path, Mode mode) {
    UniqueFd fd = open_backing_file(path, mode == Mode::read_only ? O_RDONLY : O_RDWR);
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
    return backing_size(fd_.get(), name_);
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
