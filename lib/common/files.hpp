#pragma once

// File-system operations for state that must survive crashes and stay private:
// every failure throws hostcrypt::Error naming the path and the OS reason.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "common/unique_fd.hpp"

namespace hostcrypt {

// Opens `path` with open(2) flags; throws Error naming `what` and the path.
UniqueFd open_file(const std::filesystem::path& path, int flags, mode_t mode = 0);

// Not for secrets: the bytes pass through ordinary memory (keys::
// load_or_create_secret reads secrets straight into locked memory).
std::vector<std::byte> read_file(const std::filesystem::path& path);
std::string read_text_file(const std::filesystem::path& path);

// Replaces `path` crash-atomically: writes a temporary file beside it with
// `mode`, fsyncs it, renames it over `path` and fsyncs the directory. After a
// crash at any point `path` holds either the old or the new content.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> content,
                           mode_t mode);
void write_text_file_atomically(const std::filesystem::path& path, std::string_view content,
                                mode_t mode);

// Appends one line and makes it durable before returning (for audit logs).
void append_line_durably(const std::filesystem::path& path, std::string_view line, mode_t mode);

// Writes all of `bytes` at `offset` (pwrite until done); throws on any error.
void write_all_at(int fd, std::span<const std::byte> bytes, std::uint64_t offset,
                  const std::filesystem::path& path_for_errors);
// Reads exactly `bytes.size()` at `offset`; returns how many bytes were
// available before end of file (less than requested only at EOF).
std::size_t read_at_most(int fd, std::span<std::byte> bytes, std::uint64_t offset,
                         const std::filesystem::path& path_for_errors);

void sync_file(int fd, const std::filesystem::path& path_for_errors);

// Creates `path` (and parents) with mode 0700 if absent. Present or new, it
// must be a directory owned by this user with no group or other access;
// otherwise throws an Error that says how to fix it. Secrets live below.
void ensure_private_directory(const std::filesystem::path& path);

// The names, without the extension, of the regular files in `directory`
// whose names end in `extension` (".json"), sorted; none if it does not exist.
std::vector<std::string> file_stems(const std::filesystem::path& directory,
                                    std::string_view extension);

// `path` must be a regular file owned by this user with no group or other access.
void check_private_file(const std::filesystem::path& path);

}  // namespace hostcrypt
