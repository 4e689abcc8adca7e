#pragma once

// The file format of one LocalVault key, <vault>/keys/<name>.json: the
// key's attributes and, per version, its material sealed under the vault's
// master key (docs/operations.md describes the layout).

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "keys/key_vault.hpp"

namespace hostcrypt::keys {

inline constexpr std::uint32_t min_retention_days = 7;
inline constexpr std::uint32_t max_retention_days = 90;

// One key file in memory: attributes, and each version's sealed material in version order.
struct KeyRecord {
    KeyInfo info;
    std::vector<std::vector<std::byte>> sealed;
};

std::string serialize(const KeyRecord& record);
// Throws nlohmann::json::exception or hostcrypt::Error for anything serialize did not write.
KeyRecord parse_record(const std::string& text, const std::string& name);

// Names of the key files in `directory`; leftovers of interrupted writes are not key files.
// Throws KeysError(storage) if the directory cannot be listed.
std::vector<std::string> key_file_names(const std::filesystem::path& directory);

}  // namespace hostcrypt::keys
