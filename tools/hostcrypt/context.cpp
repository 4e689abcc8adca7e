#include "context.hpp"

#include <iostream>
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/files.hpp"

namespace hostcrypt::tools {

void Context::open_state() {
    if (lock_) {
        return;
    }
    ensure_private_directory(state_directory);
    lock_.emplace(state_directory);
    providers_ = std::make_unique<keys::KeyProviders>(state_directory, actor());
    sets_ = std::make_unique<keys::SetStore>(state_directory / "sets");
    catalog_ = std::make_unique<disk::DiskCatalog>(state_directory / "disks");
}

keys::KeyProviders& Context::providers() {
    open_state();
    return *providers_;
}

keys::SetStore& Context::sets() {
    open_state();
    return *sets_;
}

disk::DiskCatalog& Context::catalog() {
    open_state();
    return *catalog_;
}

void Context::print_json(const nlohmann::json& result) {
    std::cout << result.dump(2) << '\n';
}

std::string Context::actor() {
    const uid_t uid = ::getuid();
    const passwd* entry = ::getpwuid(uid);
    return fmt::format("{} (uid {}) via hostcrypt", entry != nullptr ? entry->pw_name : "?", uid);
}

}  // namespace hostcrypt::tools
