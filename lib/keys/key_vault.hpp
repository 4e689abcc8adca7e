#pragma once

// The key vault provider interface: customer-managed keys with the life
// cycle of a cloud key vault. The first implementation is LocalVault (an
// embedded vault in a directory); external key managers (KMIP, PKCS#11) will
// implement the same interface, which is why it speaks only of names,
// versions and attributes, and key material never crosses it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/utc_time.hpp"
#include "keys/key_wrapper.hpp"

namespace hostcrypt::keys {

enum class KeyType { rsa2048, rsa3072, rsa4096, aes256 };

const char* to_string(KeyType type) noexcept;
// "rsa-2048", "rsa-3072", "rsa-4096", "aes-256"; throws KeysError(invalid_argument).
KeyType parse_key_type(const std::string& text);

struct KeyVersionInfo {
    std::uint32_t version = 0;
    TimePoint created;
};

struct KeyInfo {
    std::string name;
    KeyType type = KeyType::rsa3072;
    bool enabled = true;
    std::optional<TimePoint> not_before;
    std::optional<TimePoint> expires;
    std::optional<TimePoint> deleted;   // soft-deleted at
    std::uint32_t retention_days = 90;  // after deletion, before a purge is allowed
    bool purge_protection = true;
    std::vector<KeyVersionInfo> versions;  // oldest first; never empty
};

struct CreateKeyOptions {
    KeyType type = KeyType::rsa3072;
    std::uint32_t retention_days = 90;  // 7 to 90, as cloud vaults allow
    bool purge_protection = true;
    std::optional<TimePoint> not_before;
    std::optional<TimePoint> expires;
};

class KeyVault : public KeyWrapper {
  public:
    virtual std::string vault_name() const = 0;

    // Throws KeysError(already_exists) if the name is taken (also by a
    // soft-deleted key, which must be recovered or purged first).
    virtual KeyInfo create_key(const std::string& name, const CreateKeyOptions& options) = 0;
    // A new version becomes the newest; old versions keep unwrapping.
    virtual KeyInfo rotate_key(const std::string& name) = 0;
    virtual std::vector<KeyInfo> list_keys(bool include_deleted) = 0;
    virtual KeyInfo describe_key(const std::string& name) = 0;

    virtual KeyInfo set_enabled(const std::string& name, bool enabled) = 0;
    // nullopt clears the bound.
    virtual KeyInfo set_validity(const std::string& name, std::optional<TimePoint> not_before,
                                 std::optional<TimePoint> expires) = 0;
    virtual KeyInfo soft_delete(const std::string& name) = 0;
    virtual KeyInfo recover(const std::string& name) = 0;
    // Only a soft-deleted key; refused (KeysError(refused)) while purge
    // protection is on and the retention period has not passed.
    virtual void purge(const std::string& name) = 0;
};

}  // namespace hostcrypt::keys
