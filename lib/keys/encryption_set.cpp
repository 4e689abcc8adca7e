#include "keys/encryption_set.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "keys/key_ref.hpp"
#include "keys/keys_error.hpp"
#include "keys/storage_error.hpp"

namespace hostcrypt::keys {

namespace fs = std::filesystem;
using nlohmann::json;

const char* to_string(EncryptionType type) noexcept {
    switch (type) {
        case EncryptionType::platform:
            return "platform";
        case EncryptionType::customer:
            return "customer";
        case EncryptionType::double_:
            return "double";
    }
    return "unknown";
}

EncryptionType parse_encryption_type(const std::string& text) {
    for (const EncryptionType type :
         {EncryptionType::platform, EncryptionType::customer, EncryptionType::double_}) {
        if (text == to_string(type)) {
            return type;
        }
    }
    throw KeysError(
        KeysErrc::invalid_argument,
        fmt::format("unknown encryption type '{}': use platform, customer or double", text));
}

std::vector<LayerKeySpec> layer_key_specs(const EncryptionSet& set) {
    const LayerKeySpec platform{platform_provider, platform_key_name, std::nullopt};
    const LayerKeySpec customer{vault_provider_id(set.vault), set.key_name, set.key_version};
    switch (set.type) {
        case EncryptionType::platform:
            return {platform};
        case EncryptionType::customer:
            return {customer};
        case EncryptionType::double_:
            return {customer, platform};
    }
    return {};
}

namespace {

void check_set(const EncryptionSet& set) {
    check_name(set.name, "encryption set");
    const bool needs_customer_key = set.type != EncryptionType::platform;
    if (needs_customer_key) {
        if (set.vault.empty() || set.key_name.empty()) {
            throw KeysError(KeysErrc::invalid_argument,
                            fmt::format("encryption set {} of type {} needs a customer key: give "
                                        "a vault and a key name",
                                        set.name, to_string(set.type)));
        }
        check_name(set.vault, "vault");
        check_name(set.key_name, "key");
    } else if (!set.vault.empty() || !set.key_name.empty() || set.key_version) {
        throw KeysError(KeysErrc::invalid_argument,
                        fmt::format("encryption set {} is of type platform and takes no customer "
                                    "key",
                                    set.name));
    }
    if (set.key_version && *set.key_version == 0) {
        throw KeysError(KeysErrc::invalid_argument, "key versions start at 1");
    }
}

json to_document(const EncryptionSet& set) {
    json document{{"format", 1},
                  {"name", set.name},
                  {"type", to_string(set.type)},
                  {"created", format_utc(set.created)}};
    if (set.type != EncryptionType::platform) {
        document["vault"] = set.vault;
        document["key"] = set.key_name;
        document["key_version"] = set.key_version ? json(*set.key_version) : json("latest");
    }
    return document;
}

EncryptionSet from_document(const json& document) {
    EncryptionSet set;
    set.name = document.at("name").get<std::string>();
    set.type = parse_encryption_type(document.at("type").get<std::string>());
    set.created = parse_utc(document.at("created").get<std::string>());
    if (set.type != EncryptionType::platform) {
        set.vault = document.at("vault").get<std::string>();
        set.key_name = document.at("key").get<std::string>();
        const json& version = document.at("key_version");
        if (!version.is_string()) {
            set.key_version = version.get<std::uint32_t>();
        }
    }
    return set;
}

}  // namespace

fs::path SetStore::file_of(const std::string& name) const {
    check_name(name, "encryption set");
    return directory_ / (name + ".json");
}

void SetStore::write(const EncryptionSet& set) const {
    check_set(set);
    as_storage_error([&] {
        ensure_private_directory(directory_);
        write_text_file_atomically(file_of(set.name), to_document(set).dump(2) + "\n", 0600);
    });
}

void SetStore::create(const EncryptionSet& set) {
    if (fs::exists(file_of(set.name))) {
        throw KeysError(KeysErrc::already_exists,
                        fmt::format("encryption set {} already exists", set.name));
    }
    write(set);
}

void SetStore::update(const EncryptionSet& set) {
    get(set.name);
    write(set);
}

EncryptionSet SetStore::get(const std::string& name) const {
    const fs::path file = file_of(name);
    if (!fs::exists(file)) {
        throw KeysError(KeysErrc::not_found, fmt::format("no encryption set named {}", name));
    }
    const std::string text = as_storage_error([&] { return read_text_file(file); });
    try {
        return from_document(json::parse(text));
    } catch (const std::exception& error) {
        // Whatever is wrong inside the file (syntax, a field's type, an unknown
        // type name) is damage to that file, not a mistake of the caller.
        throw KeysError(KeysErrc::storage, fmt::format("encryption set file {} is corrupt: {}",
                                                       file.string(), error.what()));
    }
}

std::vector<EncryptionSet> SetStore::list() const {
    std::vector<EncryptionSet> sets;
    for (const std::string& name : file_stems(directory_, ".json")) {
        sets.push_back(get(name));
    }
    return sets;
}

void SetStore::remove(const std::string& name) {
    const fs::path file = file_of(name);
    if (!fs::remove(file)) {
        throw KeysError(KeysErrc::not_found, fmt::format("no encryption set named {}", name));
    }
}

}  // namespace hostcrypt::keys
