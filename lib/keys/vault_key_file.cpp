#include "keys/vault_key_file.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/hex.hpp"
#include "keys/keys_error.hpp"

namespace hostcrypt::keys {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;  // keeps fields in the order people expect to read them

namespace {

constexpr int key_file_format = 1;

Json time_json(const std::optional<TimePoint>& time) {
    return time ? Json(format_utc(*time)) : Json(nullptr);
}

std::optional<TimePoint> optional_time(const Json& json) {
    return json.is_null() ? std::nullopt : std::optional(parse_utc(json.get<std::string>()));
}

}  // namespace

std::string serialize(const KeyRecord& record) {
    const KeyInfo& info = record.info;
    Json versions = Json::array();
    for (std::size_t i = 0; i < info.versions.size(); ++i) {
        versions.push_back({{"version", info.versions[i].version},
                            {"created", format_utc(info.versions[i].created)},
                            {"sealed", to_hex(record.sealed[i])}});
    }
    const Json json = {{"format", key_file_format},
                       {"name", info.name},
                       {"type", to_string(info.type)},
                       {"enabled", info.enabled},
                       {"not_before", time_json(info.not_before)},
                       {"expires", time_json(info.expires)},
                       {"deleted", time_json(info.deleted)},
                       {"retention_days", info.retention_days},
                       {"purge_protection", info.purge_protection},
                       {"versions", std::move(versions)}};
    return json.dump(2) + "\n";
}

// Throws nlohmann::json::exception or hostcrypt::Error for anything it did not write.
KeyRecord parse_record(const std::string& text, const std::string& name) {
    const Json json = Json::parse(text);
    if (json.at("format") != key_file_format) {
        throw Error(fmt::format("format {} is not supported", json.at("format").dump()));
    }
    KeyRecord record;
    KeyInfo& info = record.info;
    info.name = json.at("name").get<std::string>();
    if (info.name != name) {
        throw Error(fmt::format("it describes key '{}'", info.name));
    }
    info.type = parse_key_type(json.at("type").get<std::string>());
    info.enabled = json.at("enabled").get<bool>();
    info.not_before = optional_time(json.at("not_before"));
    info.expires = optional_time(json.at("expires"));
    info.deleted = optional_time(json.at("deleted"));
    info.retention_days = json.at("retention_days").get<std::uint32_t>();
    info.purge_protection = json.at("purge_protection").get<bool>();
    for (const Json& version : json.at("versions")) {
        const auto number = version.at("version").get<std::uint32_t>();
        if (number != info.versions.size() + 1) {
            throw Error("its versions are not numbered 1, 2, 3, ...");
        }
        info.versions.push_back({number, parse_utc(version.at("created").get<std::string>())});
        record.sealed.push_back(from_hex(version.at("sealed").get<std::string>()));
    }
    if (info.versions.empty() || info.retention_days < min_retention_days ||
        info.retention_days > max_retention_days) {
        throw Error("it has no versions or a retention out of range");
    }
    return record;
}

// Names of the key files in `directory`; leftovers of interrupted writes are not key files.
std::vector<std::string> key_file_names(const fs::path& directory) {
    constexpr std::string_view suffix = ".json";
    std::vector<std::string> names;
    std::error_code error;
    for (fs::directory_iterator it(directory, error), end; !error && it != end;
         it.increment(error)) {
        const std::string file = it->path().filename().string();
        const std::string name = file.substr(0, file.size() - std::min(file.size(), suffix.size()));
        if (file.ends_with(suffix) && is_valid_name(name)) {
            names.push_back(name);
        }
    }
    if (error) {
        throw KeysError(KeysErrc::storage,
                        fmt::format("cannot list {}: {}", directory.string(), error.message()));
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace hostcrypt::keys
