#pragma once

// A KeyRef names one version of one key-encryption key at one provider:
// what a disk header records beside each wrapped DEK.

#include <compare>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace hostcrypt::keys {

// The provider id of the platform key store. Vault providers are "vault:<name>".
inline constexpr const char* platform_provider = "platform";
// The platform store has one key; its name in KeyRefs.
inline constexpr const char* platform_key_name = "platform-kek";

std::string vault_provider_id(const std::string& vault_name);

struct KeyRef {
    std::string provider;  // "platform" or "vault:<vault name>"
    std::string name;      // key name at that provider
    std::uint32_t version = 0;

    auto operator<=>(const KeyRef&) const = default;
};

// "vault:local/app-key@3"
std::string to_string(const KeyRef& ref);

void to_json(nlohmann::json& json, const KeyRef& ref);
void from_json(const nlohmann::json& json, KeyRef& ref);

}  // namespace hostcrypt::keys
