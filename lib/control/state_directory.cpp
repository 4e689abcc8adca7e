#include "control/state_directory.hpp"

#include <thread>

#include "common/error.hpp"
#include "common/files.hpp"

namespace hostcrypt::control {

namespace {

DirectoryLock lock_directory(const std::filesystem::path& path,
                             std::chrono::milliseconds lock_wait) {
    ensure_private_directory(path);
    const auto deadline = std::chrono::steady_clock::now() + lock_wait;
    for (;;) {
        try {
            return DirectoryLock(path);
        } catch (const Error&) {
            if (std::chrono::steady_clock::now() >= deadline) {
                throw;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

}  // namespace

StateDirectory::StateDirectory(std::filesystem::path path, std::string actor,
                               std::chrono::milliseconds lock_wait)
    : path_(std::move(path)),
      lock_(lock_directory(path_, lock_wait)),
      providers_(path_, std::move(actor)),
      sets_(path_ / "sets"),
      catalog_(path_ / "disks") {}

}  // namespace hostcrypt::control
