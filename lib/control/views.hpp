#pragma once

// How each object looks in the control API: one JSON view per object, which
// the command line prints as is with --json and renders for people otherwise.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "disk/disk_catalog.hpp"
#include "disk/disk_header.hpp"
#include "disk/rotation.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_health.hpp"
#include "keys/key_vault.hpp"

namespace hostcrypt::control {

nlohmann::json key_view(const std::string& vault, const keys::KeyInfo& key);
nlohmann::json set_view(const keys::EncryptionSet& set);
nlohmann::json header_view(const disk::DiskHeader& header);
// A catalog disk: its header's view plus its name and backing path.
nlohmann::json disk_view(const disk::CatalogEntry& entry, const disk::DiskHeader& header);
nlohmann::json health_view(const std::vector<keys::KeyHealth>& layers);
nlohmann::json rewrap_view(const std::vector<disk::RewrapOutcome>& outcomes);
// A time, or null for none.
nlohmann::json json_time(const std::optional<TimePoint>& time);

}  // namespace hostcrypt::control
