#pragma once

// Opening and sizing a backing store that is a regular file or a block
// device: shared by the synchronous FileStorage and the data path's
// FileBackend so both accept and refuse exactly the same things.

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/unique_fd.hpp"

namespace hostcrypt::storage {

// open(2) with `flags`; throws hostcrypt::Error naming the path if it cannot
// be opened or is neither a regular file nor a block device.
UniqueFd open_backing_file(const std::filesystem::path& path, int flags);

// The size in bytes of a regular file or block device.
std::uint64_t backing_size(int fd, const std::string& name);

}  // namespace hostcrypt::storage
