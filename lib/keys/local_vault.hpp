#pragma once

// LocalVault: the embedded key vault. One private directory per vault:
//
//   <dir>/master.key        32 random bytes (0600): seals every key below
//   <dir>/keys/<name>.json  attributes and versions; each version's key
//                           material sealed with AES-256-GCM under the master
//                           key, bound to "<vault>/<name>/<version>"
//   <dir>/audit.log         one JSON line per operation: who, what, when, result
//
// Every file is replaced crash-atomically; the audit log is append-only and
// each line is durable before the operation returns. RSA keys wrap DEKs with
// RSA-OAEP-SHA256, AES keys with RFC 5649 key wrap: inside the vault, so key
// material never leaves it.
//
// Thread safety: every method locks the vault's mutex.

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/utc_time.hpp"
#include "keys/key_vault.hpp"

namespace hostcrypt::keys {

class LocalVault final : public KeyVault {
  public:
    // Who the audit log names for an operation, asked at each operation: a
    // daemon acts for whichever caller it serves at the time.
    using ActorFunction = std::function<std::string()>;

    // Opens the vault in `directory`, creating it (and its master key) if
    // absent. `actor` is who the audit log names for operations through this
    // object. Throws KeysError(storage) if the directory or master key is
    // unsafe (group/other access, wrong owner) or corrupt.
    static std::unique_ptr<LocalVault> open(const std::filesystem::path& directory,
                                            const std::string& vault_name, ActorFunction actor,
                                            ClockFunction clock = system_now);
    static std::unique_ptr<LocalVault> open(const std::filesystem::path& directory,
                                            const std::string& vault_name, const std::string& actor,
                                            ClockFunction clock = system_now);
    ~LocalVault() override;

    std::string provider_id() const override;
    std::string vault_name() const override;

    WrappedKey wrap(const std::string& key_name, std::optional<std::uint32_t> version,
                    std::span<const std::byte> dek) override;
    crypto::SecureBytes unwrap(const KeyRef& kek, std::span<const std::byte> blob) override;
    KeyHealth health(const KeyRef& kek) override;
    std::uint32_t latest_version(const std::string& key_name) override;

    KeyInfo create_key(const std::string& name, const CreateKeyOptions& options) override;
    KeyInfo rotate_key(const std::string& name) override;
    std::vector<KeyInfo> list_keys(bool include_deleted) override;
    KeyInfo describe_key(const std::string& name) override;
    KeyInfo set_enabled(const std::string& name, bool enabled) override;
    KeyInfo set_validity(const std::string& name, std::optional<TimePoint> not_before,
                         std::optional<TimePoint> expires) override;
    KeyInfo soft_delete(const std::string& name) override;
    KeyInfo recover(const std::string& name) override;
    void purge(const std::string& name) override;

  private:
    struct State;
    explicit LocalVault(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
    std::mutex mutex_;
};

}  // namespace hostcrypt::keys
