#include "keys/key_ref.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

namespace hostcrypt::keys {

std::string vault_provider_id(const std::string& vault_name) {
    return "vault:" + vault_name;
}

std::string to_string(const KeyRef& ref) {
    return fmt::format("{}/{}@{}", ref.provider, ref.name, ref.version);
}

void to_json(nlohmann::json& json, const KeyRef& ref) {
    json = nlohmann::json{{"provider", ref.provider}, {"name", ref.name}, {"version", ref.version}};
}

void from_json(const nlohmann::json& json, KeyRef& ref) {
    json.at("provider").get_to(ref.provider);
    json.at("name").get_to(ref.name);
    json.at("version").get_to(ref.version);
}

}  // namespace hostcrypt::keys
