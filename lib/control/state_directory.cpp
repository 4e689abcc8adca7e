#include "control/state_directory.hpp"

#include <algorithm>
#include <sstream>

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

namespace {

std::filesystem::path recorded_cache_directories(const std::filesystem::path& state) {
    return state / "cache-directories";
}

}  // namespace

std::vector<std::filesystem::path> StateDirectory::cache_directories() const {
    std::vector<std::filesystem::path> directories{path_ / "cache"};
    const std::filesystem::path recorded = recorded_cache_directories(path_);
    if (std::filesystem::exists(recorded)) {
        std::istringstream lines(read_text_file(recorded));
        for (std::string line; std::getline(lines, line);) {
            if (!line.empty() &&
                std::find(directories.begin(), directories.end(), line) == directories.end()) {
                directories.emplace_back(line);
            }
        }
    }
    return directories;
}

void StateDirectory::record_cache_directory(const std::filesystem::path& directory) {
    const std::vector<std::filesystem::path> known = cache_directories();
    if (std::find(known.begin(), known.end(), directory) != known.end()) {
        return;
    }
    std::string content;
    for (std::size_t i = 1; i < known.size(); ++i) {
        content += known[i].string() + "\n";
    }
    content += directory.string() + "\n";
    write_text_file_atomically(recorded_cache_directories(path_), content, 0600);
}

disk::Rotation StateDirectory::rotation() {
    disk::Rotation rotation(catalog_, sets_, providers_);
    rotation.keep_versions_of_caches_in(cache_directories());
    return rotation;
}

}  // namespace hostcrypt::control
