#pragma once

#include <filesystem>

#include "common/unique_fd.hpp"

namespace hostcrypt {

// An exclusive flock(2) on `<directory>/.lock` for as long as the object
// lives: one process at a time changes a state directory. Throws Error at
// once (no waiting) if another process holds it.
class DirectoryLock {
  public:
    explicit DirectoryLock(const std::filesystem::path& directory);

  private:
    UniqueFd fd_;
};

}  // namespace hostcrypt
