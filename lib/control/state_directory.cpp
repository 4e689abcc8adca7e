#include "control/state_directory.hpp"

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/retry.hpp"

namespace hostcrypt::control {

namespace {

DirectoryLock lock_directory(const std::filesystem::path& path,
                             std::chrono::milliseconds lock_wait) {
    ensure_private_directory(path);
    return retry_for<Error>(lock_wait, [&] { return DirectoryLock(path); });
}

}  // namespace

StateDirectory::StateDirectory(std::filesystem::path path, std::string actor,
                               std::chrono::milliseconds lock_wait)
    : path_(std::move(path)),
      lock_(lock_directory(path_, lock_wait)),
      providers_(path_, std::move(actor)),
      sets_(path_ / "sets"),
      catalog_(path_ / "disks"),
      instances_(path_ / "instances") {}

}  // namespace hostcrypt::control
