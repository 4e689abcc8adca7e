#include "common/files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/error.hpp"

namespace hostcrypt {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void throw_os_error(std::string_view what, const fs::path& path, int error_number) {
    throw Error(fmt::format("{} {}: {}", what, path.string(), std::strerror(error_number)));
}

std::string temporary_name(const fs::path& path) {
    std::random_device random;
    return fmt::format("{}.tmp-{:08x}", path.filename().string(), random());
}

void sync_directory(const fs::path& directory) {
    UniqueFd fd = open_file(directory.empty() ? fs::path(".") : directory, O_RDONLY | O_DIRECTORY);
    sync_file(fd.get(), directory);
}

void check_private(const fs::path& path, bool directory) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw_os_error("cannot inspect", path, errno);
    }
    const bool right_kind = directory ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
    if (!right_kind) {
        throw Error(
            fmt::format("{} is not a {}", path.string(), directory ? "directory" : "regular file"));
    }
    if (st.st_uid != ::geteuid()) {
        throw Error(
            fmt::format("{} is owned by uid {}, not by this user (uid {}); it holds key "
                        "material, so hostcrypt refuses to use it",
                        path.string(), st.st_uid, ::geteuid()));
    }
    if ((st.st_mode & 077) != 0) {
        throw Error(fmt::format(
            "{} has mode {:04o}; it holds key material and must not be "
            "accessible to group or others (chmod {} {})",
            path.string(), st.st_mode & 07777, directory ? "0700" : "0600", path.string()));
    }
}

}  // namespace

UniqueFd open_file(const fs::path& path, int flags, mode_t mode) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) {
        throw_os_error("cannot open", path, errno);
    }
    return UniqueFd(fd);
}

std::vector<std::byte> read_file(const fs::path& path) {
    UniqueFd fd = open_file(path, O_RDONLY);
    std::vector<std::byte> content;
    std::byte buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_os_error("cannot read", path, errno);
        }
        if (n == 0) {
            return content;
        }
        content.insert(content.end(), buffer, buffer + n);
    }
}

std::string read_text_file(const fs::path& path) {
    const std::vector<std::byte> bytes = read_file(path);
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void write_all_at(int fd, std::span<const std::byte> bytes, std::uint64_t offset,
                  const fs::path& path_for_errors) {
    while (!bytes.empty()) {
        const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_os_error("cannot write", path_for_errors, errno);
        }
        bytes = bytes.subspan(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
}

std::size_t read_at_most(int fd, std::span<std::byte> bytes, std::uint64_t offset,
                         const fs::path& path_for_errors) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done,
                                  static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_os_error("cannot read", path_for_errors, errno);
        }
        if (n == 0) {
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    return done;
}

void sync_file(int fd, const fs::path& path_for_errors) {
    if (::fsync(fd) != 0) {
        throw_os_error("cannot sync", path_for_errors, errno);
    }
}

void write_file_atomically(const fs::path& path, std::span<const std::byte> content, mode_t mode) {
    const fs::path temporary = path.parent_path() / temporary_name(path);
    {
        UniqueFd fd = open_file(temporary, O_WRONLY | O_CREAT | O_EXCL, mode);
        try {
            write_all_at(fd.get(), content, 0, temporary);
            sync_file(fd.get(), temporary);
        } catch (...) {
            ::unlink(temporary.c_str());
            throw;
        }
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error_number = errno;
        ::unlink(temporary.c_str());
        throw_os_error("cannot replace", path, error_number);
    }
    sync_directory(path.parent_path());
}

void write_text_file_atomically(const fs::path& path, std::string_view content, mode_t mode) {
    write_file_atomically(path, std::as_bytes(std::span(content.data(), content.size())), mode);
}

void append_line_durably(const fs::path& path, std::string_view line, mode_t mode) {
    UniqueFd fd = open_file(path, O_WRONLY | O_CREAT | O_APPEND, mode);
    std::string text(line);
    text.push_back('\n');
    // O_APPEND: the offset is ignored and every write lands at the end.
    write_all_at(fd.get(), std::as_bytes(std::span(text.data(), text.size())), 0, path);
    if (::fdatasync(fd.get()) != 0) {
        throw_os_error("cannot sync", path, errno);
    }
}

std::vector<std::string> file_stems(const fs::path& directory, std::string_view extension) {
    std::vector<std::string> stems;
    if (!fs::exists(directory)) {
        return stems;
    }
    for (const auto& item : fs::directory_iterator(directory)) {
        if (item.is_regular_file() && item.path().extension() == extension) {
            stems.push_back(item.path().stem().string());
        }
    }
    std::sort(stems.begin(), stems.end());
    return stems;
}

void ensure_private_directory(const fs::path& path) try {
    if (!fs::exists(path)) {
        if (!path.parent_path().empty()) {
            fs::create_directories(path.parent_path());
        }
        if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
            throw_os_error("cannot create directory", path, errno);
        }
        sync_directory(path.parent_path());
    }
    check_private(path, true);
} catch (const fs::filesystem_error& error) {
    throw Error(
        fmt::format("cannot create directory {}: {}", path.string(), error.code().message()));
}

void check_private_file(const fs::path& path) {
    check_private(path, false);
}

}  // namespace hostcrypt
