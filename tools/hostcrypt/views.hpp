#pragma once

// How each object looks to users: one JSON view per object, which --json
// prints as is and the human output renders.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "disk/disk_catalog.hpp"
#include "disk/disk_header.hpp"
#include "disk/rotation.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_health.hpp"
#include "keys/key_vault.hpp"

namespace hostcrypt::tools {

nlohmann::json key_view(const std::string& vault, const keys::KeyInfo& key);
nlohmann::json set_view(const keys::EncryptionSet& set);
nlohmann::json header_view(const disk::DiskHeader& header);
nlohmann::json health_view(const std::vector<keys::KeyHealth>& layers);
nlohmann::json rewrap_view(const std::vector<disk::RewrapOutcome>& outcomes);

// The key reference a set follows, as people read it: "local/app-key@latest".
std::string set_key_text(const nlohmann::json& set);
// Prints what rewrap_view describes; returns false if any disk failed.
bool print_rewrap(const nlohmann::json& outcomes);

}  // namespace hostcrypt::tools
