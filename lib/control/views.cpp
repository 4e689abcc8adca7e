#include "control/views.hpp"

namespace hostcrypt::control {

using nlohmann::json;

json key_view(const std::string& vault, const keys::KeyInfo& key) {
    json versions = json::array();
    for (const keys::KeyVersionInfo& version : key.versions) {
        versions.push_back(
            {{"version", version.version}, {"created", format_utc(version.created)}});
    }
    return {{"vault", vault},
            {"name", key.name},
            {"type", keys::to_string(key.type)},
            {"enabled", key.enabled},
            {"not_before", json_time(key.not_before)},
            {"expires", json_time(key.expires)},
            {"deleted", json_time(key.deleted)},
            {"retention_days", key.retention_days},
            {"purge_protection", key.purge_protection},
            {"latest_version", key.versions.empty() ? 0 : key.versions.back().version},
            {"versions", versions}};
}

json set_view(const keys::EncryptionSet& set) {
    json view{{"name", set.name},
              {"type", keys::to_string(set.type)},
              {"created", format_utc(set.created)}};
    if (set.type != keys::EncryptionType::platform) {
        view["vault"] = set.vault;
        view["key"] = set.key_name;
        view["key_version"] = set.key_version ? json(*set.key_version) : json("latest");
    }
    return view;
}

json header_view(const disk::DiskHeader& header) {
    json layers = json::array();
    for (std::size_t i = 0; i < header.layers.size(); ++i) {
        const bool outer = header.layers.size() == 2 && i == 1;
        layers.push_back(
            {{"layer", header.layers.size() == 1 ? "only" : (outer ? "outer" : "inner")},
             {"cipher", header.layers[i].cipher},
             {"kek", header.layers[i].kek}});
    }
    return {{"uuid", header.uuid},
            {"size", header.size},
            {"sector_size", header.sector_size},
            {"data_offset", header.data_offset},
            {"set", header.set_name},
            {"type", keys::to_string(header.set_type)},
            {"layers", layers},
            {"created", format_utc(header.created)},
            {"rotated", json_time(header.rotated)},
            {"header_sequence", header.sequence}};
}

json disk_view(const disk::CatalogEntry& entry, const disk::DiskHeader& header) {
    json view = header_view(header);
    view["name"] = entry.name;
    view["path"] = entry.path.string();
    return view;
}

json health_view(const std::vector<keys::KeyHealth>& layers) {
    json view = json::array();
    bool usable = true;
    for (const keys::KeyHealth& health : layers) {
        view.push_back({{"state", keys::to_string(health.state)}, {"reason", health.reason}});
        usable = usable && health.usable();
    }
    return {{"usable", usable}, {"layers", view}};
}

json rewrap_view(const std::vector<disk::RewrapOutcome>& outcomes) {
    json view = json::array();
    for (const disk::RewrapOutcome& outcome : outcomes) {
        json entry{{"disk", outcome.disk}, {"changed", outcome.changed}};
        if (!outcome.error.empty()) {
            entry["error"] = outcome.error;
        } else {
            entry["before"] = outcome.before;
            entry["after"] = outcome.after;
        }
        view.push_back(entry);
    }
    return view;
}

json json_time(const std::optional<TimePoint>& time) {
    return time ? json(format_utc(*time)) : json(nullptr);
}

}  // namespace hostcrypt::control
