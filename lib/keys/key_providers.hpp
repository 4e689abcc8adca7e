#pragma once

// Every key provider of one state directory: the platform key store in
// <state>/platform and the local vaults in <state>/vaults/<name>. Disks name
// providers by id in their KeyRefs; this resolves the id.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/utc_time.hpp"
#include "keys/key_vault.hpp"
#include "keys/platform_key_store.hpp"

namespace hostcrypt::keys {

class KeyProviders {
  public:
    // `actor` is who the vault audit logs name for operations made through it.
    KeyProviders(std::filesystem::path state_directory, std::string actor,
                 ClockFunction clock = system_now);
    ~KeyProviders();

    // Who the vault audit logs name from now on (a daemon sets it per call).
    // Not thread-safe against concurrent vault operations.
    void set_actor(std::string actor) { actor_ = std::move(actor); }

    PlatformKeyStore& platform();
    // Opens an existing vault; throws KeysError(not_found) if it does not exist.
    KeyVault& vault(const std::string& name);
    // Opens a vault, creating it if it does not exist.
    KeyVault& open_or_create_vault(const std::string& name);
    std::vector<std::string> vault_names() const;

    // "platform" or "vault:<name>"; throws KeysError(not_found).
    KeyWrapper& provider(const std::string& provider_id);

  private:
    std::filesystem::path state_directory_;
    std::string actor_;
    ClockFunction clock_;
    std::unique_ptr<PlatformKeyStore> platform_;
    std::map<std::string, std::unique_ptr<KeyVault>> vaults_;
};

}  // namespace hostcrypt::keys
