// vault.key.create|list|show|rotate|disable|enable|expire|delete|recover|purge

#include <array>

#include "control/methods.hpp"
#include "control/views.hpp"
#include "disk/rotation.hpp"

namespace hostcrypt::control {

namespace {

using nlohmann::json;

constexpr const char* default_vault = "local";

keys::KeyVault& vault_of(CallContext& call, Params& params) {
    return call.state.providers().vault(params.string_or("vault", default_vault));
}

// A key's state changed: a running daemon re-checks its disks now, so a
// disabled key starts the grace period and an enabled one ends a revocation.
json changed(CallContext& call, json result) {
    if (call.daemon != nullptr) {
        call.daemon->keys_changed();
    }
    return result;
}

json create(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    const std::string vault_name = params.string_or("vault", default_vault);
    keys::CreateKeyOptions options;
    options.type = keys::parse_key_type(params.string_or("type", "rsa-3072"));
    options.retention_days = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(params.optional_uint("retention_days").value_or(90), UINT32_MAX));
    options.purge_protection = params.bool_or("purge_protection", true);
    options.not_before = params.optional_time("not_before");
    options.expires = params.optional_time("expires");
    params.finish();
    keys::KeyVault& vault = call.state.providers().open_or_create_vault(vault_name);
    return key_view(vault.vault_name(), vault.create_key(name, options));
}

json list(CallContext& call, Params& params) {
    keys::KeyVault& vault = vault_of(call, params);
    const bool include_deleted = params.bool_or("include_deleted", false);
    params.finish();
    json result = json::array();
    for (const keys::KeyInfo& info : vault.list_keys(include_deleted)) {
        result.push_back(key_view(vault.vault_name(), info));
    }
    return result;
}

// The verbs that take a vault and a key name and answer with the key.
template <keys::KeyInfo (*action)(keys::KeyVault&, const std::string&), bool changes_state>
json key_verb(CallContext& call, Params& params) {
    keys::KeyVault& vault = vault_of(call, params);
    const std::string name = params.required_string("name");
    params.finish();
    json view = key_view(vault.vault_name(), action(vault, name));
    return changes_state ? changed(call, std::move(view)) : view;
}

keys::KeyInfo describe(keys::KeyVault& vault, const std::string& name) {
    return vault.describe_key(name);
}
keys::KeyInfo disable(keys::KeyVault& vault, const std::string& name) {
    return vault.set_enabled(name, false);
}
keys::KeyInfo enable(keys::KeyVault& vault, const std::string& name) {
    return vault.set_enabled(name, true);
}
keys::KeyInfo soft_delete(keys::KeyVault& vault, const std::string& name) {
    return vault.soft_delete(name);
}
keys::KeyInfo recover(keys::KeyVault& vault, const std::string& name) {
    return vault.recover(name);
}

json rotate(CallContext& call, Params& params) {
    keys::KeyVault& vault = vault_of(call, params);
    const std::string name = params.required_string("name");
    params.finish();
    const keys::KeyInfo info = vault.rotate_key(name);
    disk::Rotation rotation = call.state.rotation();
    return changed(call, {{"key", key_view(vault.vault_name(), info)},
                          {"rewrapped",
                           rewrap_view(rotation.rewrap_following(vault.vault_name(), info.name))}});
}

// A bound left out stays as it is; null clears it.
json expire(CallContext& call, Params& params) {
    keys::KeyVault& vault = vault_of(call, params);
    const std::string name = params.required_string("name");
    const bool has_not_before = params.has("not_before");
    const bool has_expires = params.has("expires");
    std::optional<TimePoint> not_before = params.optional_time("not_before");
    std::optional<TimePoint> expires = params.optional_time("expires");
    params.finish();
    if (!has_not_before || !has_expires) {
        const keys::KeyInfo current = vault.describe_key(name);
        not_before = has_not_before ? not_before : current.not_before;
        expires = has_expires ? expires : current.expires;
    }
    return changed(call,
                   key_view(vault.vault_name(), vault.set_validity(name, not_before, expires)));
}

json purge(CallContext& call, Params& params) {
    keys::KeyVault& vault = vault_of(call, params);
    const std::string name = params.required_string("name");
    params.finish();
    vault.purge(name);
    return changed(call, {{"vault", vault.vault_name()}, {"name", name}, {"purged", true}});
}

const std::array table{
    Method{"vault.key.create", Role::crypto_officer, create},
    Method{"vault.key.list", Role::reader, list},
    Method{"vault.key.show", Role::reader, key_verb<describe, false>},
    Method{"vault.key.rotate", Role::crypto_officer, rotate},
    Method{"vault.key.disable", Role::crypto_officer, key_verb<disable, true>},
    Method{"vault.key.enable", Role::crypto_officer, key_verb<enable, true>},
    Method{"vault.key.expire", Role::crypto_officer, expire},
    Method{"vault.key.delete", Role::crypto_officer, key_verb<soft_delete, true>},
    Method{"vault.key.recover", Role::crypto_officer, key_verb<recover, true>},
    Method{"vault.key.purge", Role::crypto_officer, purge},
};

}  // namespace

std::span<const Method> key_methods() {
    return table;
}

}  // namespace hostcrypt::control
