#include "keys/key_providers.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "keys/key_ref.hpp"
#include "keys/keys_error.hpp"
#include "keys/local_vault.hpp"

namespace hostcrypt::keys {

namespace fs = std::filesystem;

KeyProviders::KeyProviders(fs::path state_directory, std::string actor, ClockFunction clock)
    : state_directory_(std::move(state_directory)),
      actor_(std::move(actor)),
      clock_(std::move(clock)) {}

KeyProviders::~KeyProviders() = default;

PlatformKeyStore& KeyProviders::platform() {
    if (!platform_) {
        platform_ = PlatformKeyStore::open(state_directory_ / "platform", clock_);
    }
    return *platform_;
}

KeyVault& KeyProviders::vault(const std::string& name) {
    check_name(name, "vault");
    if (!vaults_.contains(name) && !fs::exists(state_directory_ / "vaults" / name)) {
        throw KeysError(KeysErrc::not_found, fmt::format("no vault named {}", name));
    }
    return open_or_create_vault(name);
}

KeyVault& KeyProviders::open_or_create_vault(const std::string& name) {
    check_name(name, "vault");
    auto& slot = vaults_[name];
    if (!slot) {
        slot = LocalVault::open(state_directory_ / "vaults" / name, name,
                                LocalVault::ActorFunction([this] { return actor_; }), clock_);
    }
    return *slot;
}

std::vector<std::string> KeyProviders::vault_names() const {
    std::vector<std::string> names;
    const fs::path directory = state_directory_ / "vaults";
    if (fs::exists(directory)) {
        for (const auto& entry : fs::directory_iterator(directory)) {
            if (entry.is_directory()) {
                names.push_back(entry.path().filename().string());
            }
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

KeyWrapper& KeyProviders::provider(const std::string& provider_id) {
    if (provider_id == platform_provider) {
        return platform();
    }
    const std::string prefix = "vault:";
    if (provider_id.starts_with(prefix)) {
        return vault(provider_id.substr(prefix.size()));
    }
    throw KeysError(KeysErrc::not_found, fmt::format("unknown key provider '{}'", provider_id));
}

}  // namespace hostcrypt::keys
