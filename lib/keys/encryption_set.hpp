#pragma once

// Encryption sets: named scopes that say how the disks in them are encrypted
// (the model's disk encryption sets). Stored one file per set in
// <state>/sets/<name>.json.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/utc_time.hpp"

namespace hostcrypt::keys {

enum class EncryptionType {
    platform,  // one layer, DEK wrapped by the platform key
    customer,  // one layer, DEK wrapped by the customer key
    double_,   // inner layer under the customer key, outer layer under the platform key
};

const char* to_string(EncryptionType type) noexcept;  // "platform", "customer", "double"
// Throws KeysError(invalid_argument).
EncryptionType parse_encryption_type(const std::string& text);

struct EncryptionSet {
    std::string name;
    EncryptionType type = EncryptionType::platform;
    // The customer key, for `customer` and `double`; empty for `platform`.
    std::string vault;
    std::string key_name;
    // A fixed version, or nullopt for "latest": new versions of the key are
    // picked up by rotation (auto-rotation).
    std::optional<std::uint32_t> key_version;
    TimePoint created;
};

// Which key wraps each cipher layer, innermost first.
struct LayerKeySpec {
    std::string provider;  // KeyRef::provider
    std::string key_name;
    std::optional<std::uint32_t> version;  // nullopt: the newest
};
std::vector<LayerKeySpec> layer_key_specs(const EncryptionSet& set);

class SetStore {
  public:
    // `directory` is <state>/sets; created on first write.
    explicit SetStore(std::filesystem::path directory) : directory_(std::move(directory)) {}

    // Checks the name, the type's key fields, then writes; throws
    // KeysError(already_exists | invalid_argument).
    void create(const EncryptionSet& set);
    void update(const EncryptionSet& set);             // KeysError(not_found)
    EncryptionSet get(const std::string& name) const;  // KeysError(not_found | storage)
    std::vector<EncryptionSet> list() const;
    void remove(const std::string& name);  // KeysError(not_found)

  private:
    std::filesystem::path file_of(const std::string& name) const;
    void write(const EncryptionSet& set) const;
    std::filesystem::path directory_;
};

}  // namespace hostcrypt::keys
