// set.create|list|show|rotate|delete

#include <array>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "control/control_error.hpp"
#include "control/methods.hpp"
#include "control/views.hpp"
#include "disk/rotation.hpp"
#include "keys/keys_error.hpp"

namespace hostcrypt::control {

namespace {

using nlohmann::json;

std::vector<std::string> disks_in_set(CallContext& call, const std::string& set) {
    std::vector<std::string> names;
    for (const disk::CatalogEntry& entry : call.state.catalog().list()) {
        if (entry.set == set) {
            names.push_back(entry.name);
        }
    }
    return names;
}

// "latest" (follow rotations) or a version number.
std::optional<std::uint32_t> parse_key_version(const std::string& text) {
    if (text == "latest") {
        return std::nullopt;
    }
    std::size_t used = 0;
    unsigned long value = 0;
    try {
        value = std::stoul(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size() || value == 0 || value > UINT32_MAX) {
        throw invalid_params(fmt::format(
            "key_version '{}' is neither a version number (1, 2, ...) nor 'latest'", text));
    }
    return static_cast<std::uint32_t>(value);
}

json create(CallContext& call, Params& params) {
    keys::EncryptionSet set;
    set.name = params.required_string("name");
    set.type = keys::parse_encryption_type(params.required_string("type"));
    const std::optional<std::string> vault = params.optional_string("vault");
    const std::optional<std::string> key = params.optional_string("key");
    const std::optional<std::string> key_version = params.optional_string("key_version");
    params.finish();
    set.created = system_now();
    // A platform set with a key version is refused by SetStore::create.
    set.key_version = parse_key_version(key_version.value_or("latest"));
    if (set.type != keys::EncryptionType::platform) {
        set.vault = vault.value_or("local");
        set.key_name = key.value_or("");
        if (!set.key_name.empty()) {
            // Refuse a set whose key does not exist: no disk could be created in it.
            call.state.providers().vault(set.vault).describe_key(set.key_name);
        }
    } else if (vault || key) {
        set.vault = vault.value_or("");
        set.key_name = key.value_or("");  // SetStore::create explains the mistake
    }
    call.state.sets().create(set);
    return set_view(set);
}

json list(CallContext& call, Params& params) {
    params.finish();
    json result = json::array();
    for (const keys::EncryptionSet& set : call.state.sets().list()) {
        json view = set_view(set);
        view["disks"] = disks_in_set(call, set.name);
        result.push_back(view);
    }
    return result;
}

json show(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    json view = set_view(call.state.sets().get(name));
    view["disks"] = disks_in_set(call, name);
    return view;
}

json rotate(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    disk::Rotation rotation = call.state.rotation();
    json result = rewrap_view(rotation.rewrap_set(name));
    if (call.daemon != nullptr) {
        call.daemon->keys_changed();
    }
    return result;
}

json remove(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    call.state.sets().get(name);
    const std::vector<std::string> disks = disks_in_set(call, name);
    if (!disks.empty()) {
        throw keys::KeysError(
            keys::KeysErrc::refused,
            fmt::format("encryption set {} still has disks ({}); delete them first", name,
                        fmt::join(disks, ", ")));
    }
    call.state.sets().remove(name);
    return {{"name", name}, {"deleted", true}};
}

const std::array table{
    Method{"set.create", Role::disk_operator, create},
    Method{"set.list", Role::reader, list},
    Method{"set.show", Role::reader, show},
    Method{"set.rotate", Role::crypto_officer, rotate},
    Method{"set.delete", Role::disk_operator, remove},
};

}  // namespace

std::span<const Method> set_methods() {
    return table;
}

}  // namespace hostcrypt::control
