#include "keys/local_vault.hpp"

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "common/directory_lock.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/hex.hpp"
#include "crypto/aes_gcm.hpp"
#include "crypto/crypto_error.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/rsa_oaep.hpp"
#include "keys/keys_error.hpp"
#include "keys/secret_file.hpp"
#include "keys/storage_error.hpp"
#include "keys/vault_key_file.hpp"
#include "keys/vault_key_material.hpp"

namespace hostcrypt::keys {

namespace fs = std::filesystem;
using crypto::CryptoErrc;
using crypto::CryptoError;
using crypto::SecureBytes;
using Json = nlohmann::ordered_json;  // keeps fields in the order people expect to read them
using VersionOut = std::optional<std::uint32_t>;

namespace {

constexpr int key_file_format = 1;
constexpr std::size_t master_key_size = 32;
constexpr mode_t private_mode = 0600;

template <typename... Args>
KeysError keys_error(KeysErrc code, fmt::format_string<Args...> format, Args&&... args) {
    return KeysError(code, fmt::format(format, std::forward<Args>(args)...));
}

// Key files store whole seconds; rounding on the way in makes a record read
// back exactly as it was returned.
TimePoint whole_seconds(TimePoint time) {
    return std::chrono::time_point_cast<std::chrono::seconds>(time);
}

std::optional<TimePoint> whole_seconds(std::optional<TimePoint> time) {
    return time ? std::optional(whole_seconds(*time)) : std::nullopt;
}

// Runs `action`, turning a CryptoError(from) into KeysError(to) that begins with `context`.
template <typename Action>
auto translate(CryptoErrc from, KeysErrc to, const std::string& context, Action&& action) {
    try {
        return action();
    } catch (const CryptoError& error) {
        if (error.code() != from) {
            throw;
        }
        throw keys_error(to, "{}: {}", context, error.what());
    }
}

bool file_exists(const fs::path& path) {
    std::error_code error;
    const bool exists = fs::exists(path, error);
    if (error) {
        throw keys_error(KeysErrc::storage, "cannot inspect {}: {}", path.string(),
                         error.message());
    }
    return exists;
}

SecureBytes load_or_create_master_key(const fs::path& path, const fs::path& keys_directory) {
    // A new master key is only safe while no key is sealed under the old one.
    const std::size_t keys_sealed = key_file_names(keys_directory).size();
    return load_or_create_secret(
        path, master_key_size, keys_sealed == 0, "vault master key",
        fmt::format("{} {}", keys_sealed, keys_sealed == 1 ? "key" : "keys"));
}

void check_validity(const std::optional<TimePoint>& not_before,
                    const std::optional<TimePoint>& expires) {
    if (not_before && expires && *expires <= *not_before) {
        throw keys_error(KeysErrc::invalid_argument, "expiry {} must be after not-before {}",
                         format_utc(*expires), format_utc(*not_before));
    }
}

// Why a key may not be used, as the error its caller branches on.
KeysError error_for(const KeyHealth& health) {
    const bool missing = health.state == KeyState::not_found;
    return KeysError(missing ? KeysErrc::not_found : KeysErrc::key_unusable, health.reason,
                     health.state);
}

}  // namespace

struct LocalVault::State {
    State(fs::path directory_in, std::string vault_in, LocalVault::ActorFunction actor_in,
          ClockFunction clock_in)
        : directory(std::move(directory_in)),
          vault(std::move(vault_in)),
          actor(std::move(actor_in)),
          clock(std::move(clock_in)),
          // Another process changing key files under us could lose a key
          // version, and with it every disk wrapped by that version.
          lock(directory),
          master(load_or_create_master_key(directory / "master.key", keys_directory())) {}

    const fs::path directory;
    const std::string vault;
    const LocalVault::ActorFunction actor;
    const ClockFunction clock;
    const DirectoryLock lock;
    const SecureBytes master;

    fs::path keys_directory() const { return directory / "keys"; }
    fs::path key_path(const std::string& name) const { return keys_directory() / (name + ".json"); }
    std::string label(const std::string& name) const {
        return fmt::format("key {} in vault {}", name, vault);
    }
    TimePoint now() const { return clock(); }

    // Binds sealed material to its vault, key and version: a key file copied
    // under another name or into another vault does not open.
    std::string associated_data(const std::string& name, std::uint32_t version) const {
        return fmt::format("hostcrypt-vault/{}/{}/{}", vault, name, version);
    }

    void add_version(KeyRecord& record) const {
        const auto number = static_cast<std::uint32_t>(record.info.versions.size() + 1);
        const SecureBytes material = generate_material(record.info.type);
        const std::string aad = associated_data(record.info.name, number);
        record.sealed.push_back(
            crypto::aes_gcm_seal(master.bytes(), material.bytes(), std::as_bytes(std::span(aad))));
        record.info.versions.push_back({number, whole_seconds(now())});
    }

    SecureBytes open_material(const KeyRecord& record, std::uint32_t version) const {
        const std::string aad = associated_data(record.info.name, version);
        const std::string context = fmt::format(
            "key file {}: version {} does not open under the master key (the file was altered "
            "or copied from elsewhere, or master.key was replaced)",
            key_path(record.info.name).string(), version);
        return translate(CryptoErrc::authentication_failed, KeysErrc::storage, context, [&] {
            return crypto::aes_gcm_open(master.bytes(), record.sealed.at(version - 1),
                                        std::as_bytes(std::span(aad)));
        });
    }

    // The name must have passed check_name: it becomes a path.
    std::optional<KeyRecord> find(const std::string& name) const {
        // A vault whose directory has gone (an unmounted share, a moved
        // directory) cannot answer: that is not the same as a deleted key.
        std::error_code ignored;  // any failure to look is "not there"
        if (!fs::is_directory(keys_directory(), ignored)) {
            throw keys_error(KeysErrc::storage, "vault {} cannot be reached: {} is not there",
                             vault, keys_directory().string());
        }
        const fs::path path = key_path(name);
        if (!file_exists(path)) {
            return std::nullopt;
        }
        const std::string text = as_storage_error([&] { return read_text_file(path); });
        std::optional<KeyRecord> record;
        std::string problem;
        try {
            record = parse_record(text, name);
        } catch (const nlohmann::json::exception& error) {
            problem = error.what();
        } catch (const Error& error) {
            problem = error.what();
        }
        if (!record) {
            throw keys_error(KeysErrc::storage, "key file {} is corrupt: {}", path.string(),
                             problem);
        }
        // Every version, so a wrong master key shows at once, not at some later unwrap.
        for (const KeyVersionInfo& version : record->info.versions) {
            open_material(*record, version.version);
        }
        return record;
    }

    KeyRecord load(const std::string& name) const {
        check_name(name, "key");
        std::optional<KeyRecord> record = find(name);
        if (!record) {
            throw KeysError(KeysErrc::not_found, fmt::format("no key {} in vault {}", name, vault),
                            KeyState::not_found);
        }
        return std::move(*record);
    }

    void save(const KeyRecord& record) const {
        as_storage_error([&] {
            write_text_file_atomically(key_path(record.info.name), serialize(record), private_mode);
        });
    }

    void remove(const std::string& name) const {
        std::error_code error;
        if (!fs::remove(key_path(name), error) && error) {
            throw keys_error(KeysErrc::storage, "cannot remove {}: {}", key_path(name).string(),
                             error.message());
        }
        as_storage_error([&] {
            const UniqueFd fd = open_file(keys_directory(), O_RDONLY | O_DIRECTORY);
            sync_file(fd.get(), keys_directory());
        });
    }

    KeyHealth assess(const KeyRecord& record, std::uint32_t version) const {
        const KeyInfo& info = record.info;
        const std::string who = label(info.name);
        const TimePoint time = now();
        if (version == 0 || version > info.versions.size()) {
            return {KeyState::not_found, fmt::format("{} has no version {} (it has 1 to {})", who,
                                                     version, info.versions.size())};
        }
        if (info.deleted) {
            return {KeyState::deleted, fmt::format("{} was deleted at {}; recover it to use it",
                                                   who, format_utc(*info.deleted))};
        }
        if (!info.enabled) {
            return {KeyState::disabled, who + " was disabled; enable it to use it again"};
        }
        if (info.not_before && time < *info.not_before) {
            return {KeyState::not_yet_valid,
                    fmt::format("{} is not valid before {}", who, format_utc(*info.not_before))};
        }
        if (info.expires && time >= *info.expires) {
            return {KeyState::expired,
                    fmt::format("{} expired at {}", who, format_utc(*info.expires))};
        }
        return {};
    }

    // KeyRefs come from disk headers: any name they hold is looked up, never trusted as a path.
    std::pair<std::optional<KeyRecord>, KeyHealth> look_up(const KeyRef& ref) const {
        if (ref.provider != vault_provider_id(vault)) {
            return {std::nullopt,
                    {KeyState::not_found, fmt::format("{} belongs to provider {}, not to vault {}",
                                                      to_string(ref), ref.provider, vault)}};
        }
        std::optional<KeyRecord> record = is_valid_name(ref.name) ? find(ref.name) : std::nullopt;
        if (!record) {
            return {std::nullopt,
                    {KeyState::not_found, fmt::format("no key {} in vault {}", ref.name, vault)}};
        }
        KeyHealth health = assess(*record, ref.version);
        return {std::move(record), std::move(health)};
    }

    void append_audit(const char* operation, const std::string& key, VersionOut version,
                      const std::string& result) const {
        const Json line = {{"time", format_utc(now())},
                           {"actor", actor()},
                           {"vault", vault},
                           {"operation", operation},
                           {"key", key},
                           {"version", version ? Json(*version) : Json(nullptr)},
                           {"result", result}};
        // Names that failed validation may not be UTF-8; the line must still be written.
        const std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
        as_storage_error([&] { append_line_durably(directory / "audit.log", text, private_mode); });
    }

    // Runs `run(version)` and records its outcome, failures included; `run`
    // sets the version it acted on as soon as it knows it.
    template <typename Operation>
    auto audited(const char* operation, const std::string& key, Operation&& run) const {
        VersionOut version;
        decltype(run(version)) result;
        try {
            result = run(version);
        } catch (const Error& error) {
            try {
                append_audit(operation, key, version, fmt::format("error: {}", error.what()));
            } catch (const KeysError& audit_error) {
                throw keys_error(KeysErrc::storage, "{}; recording that failed too: {}",
                                 error.what(), audit_error.what());
            }
            throw;
        }
        try {
            append_audit(operation, key, version, "ok");
        } catch (const KeysError& audit_error) {
            throw keys_error(KeysErrc::storage, "{} of {} was done but not recorded: {}", operation,
                             label(key), audit_error.what());
        }
        return result;
    }

    // The shape of every change but recover and purge: audited, refused on a
    // deleted key, and saved whole.
    template <typename Apply>
    KeyInfo change(const char* operation, const std::string& name, Apply&& apply) const {
        return audited(operation, name, [&](VersionOut& version) {
            KeyRecord record = load(name);
            if (record.info.deleted) {
                throw error_for({KeyState::deleted,
                                 fmt::format("{} was deleted at {}; recover it first", label(name),
                                             format_utc(*record.info.deleted))});
            }
            apply(record, version);
            save(record);
            return record.info;
        });
    }
};

std::unique_ptr<LocalVault> LocalVault::open(const fs::path& directory,
                                             const std::string& vault_name, ActorFunction actor,
                                             ClockFunction clock) {
    check_name(vault_name, "vault");
    auto state = as_storage_error([&] {
        ensure_private_directory(directory);
        ensure_private_directory(directory / "keys");
        return std::make_unique<State>(directory, vault_name, std::move(actor), std::move(clock));
    });
    return std::unique_ptr<LocalVault>(new LocalVault(std::move(state)));
}

std::unique_ptr<LocalVault> LocalVault::open(const fs::path& directory,
                                             const std::string& vault_name,
                                             const std::string& actor, ClockFunction clock) {
    return open(directory, vault_name, ActorFunction([actor] { return actor; }), std::move(clock));
}

LocalVault::LocalVault(std::unique_ptr<State> state) : state_(std::move(state)) {}
LocalVault::~LocalVault() = default;

// Immutable after open(), so read without the lock (which const methods cannot take).
std::string LocalVault::provider_id() const {
    return vault_provider_id(state_->vault);
}
std::string LocalVault::vault_name() const {
    return state_->vault;
}

WrappedKey LocalVault::wrap(const std::string& key_name, std::optional<std::uint32_t> version,
                            std::span<const std::byte> dek) {
    const std::lock_guard guard(mutex_);
    const State& s = *state_;
    return s.audited("wrap", key_name, [&](VersionOut& used) {
        const KeyRecord record = s.load(key_name);
        used = version.value_or(record.info.versions.back().version);
        if (const KeyHealth health = s.assess(record, *used); !health.usable()) {
            throw error_for(health);
        }
        const SecureBytes material = s.open_material(record, *used);
        const std::string context =
            fmt::format("{} cannot wrap a {}-byte key", s.label(key_name), dek.size());
        return WrappedKey{
            {provider_id(), key_name, *used},
            translate(CryptoErrc::invalid_argument, KeysErrc::invalid_argument, context,
                      [&] { return wrap_with(record.info.type, material, dek); })};
    });
}

crypto::SecureBytes LocalVault::unwrap(const KeyRef& kek, std::span<const std::byte> blob) {
    const std::lock_guard guard(mutex_);
    const State& s = *state_;
    return s.audited("unwrap", kek.name, [&](VersionOut& used) {
        used = kek.version;
        const auto [record, health] = s.look_up(kek);
        if (!health.usable()) {
            throw error_for(health);
        }
        const SecureBytes material = s.open_material(*record, kek.version);
        const std::string context = "the wrapped key does not unwrap under " + to_string(kek);
        return translate(CryptoErrc::authentication_failed, KeysErrc::unwrap_failed, context,
                         [&] { return unwrap_with(record->info.type, material, blob); });
    });
}

KeyHealth LocalVault::health(const KeyRef& kek) {
    const std::lock_guard guard(mutex_);
    try {
        return state_->look_up(kek).second;
    } catch (const KeysError& error) {
        // A corrupt or unreadable key file is reported, but it is not a
        // revocation: the disks that use the key must not be cut off for it.
        if (error.code() != KeysErrc::storage) {
            throw;
        }
        return {KeyState::unreachable, error.what()};
    }
}

std::uint32_t LocalVault::latest_version(const std::string& key_name) {
    const std::lock_guard guard(mutex_);
    return state_->load(key_name).info.versions.back().version;
}

KeyInfo LocalVault::create_key(const std::string& name, const CreateKeyOptions& options) {
    const std::lock_guard guard(mutex_);
    const State& s = *state_;
    return s.audited("create-key", name, [&](VersionOut& version) {
        check_name(name, "key");
        if (options.retention_days < min_retention_days ||
            options.retention_days > max_retention_days) {
            throw keys_error(KeysErrc::invalid_argument,
                             "retention of {} days is out of range: use {} to {} days",
                             options.retention_days, min_retention_days, max_retention_days);
        }
        check_validity(whole_seconds(options.not_before), whole_seconds(options.expires));
        if (file_exists(s.key_path(name))) {
            throw keys_error(KeysErrc::already_exists,
                             "{} already exists (a deleted key keeps its name until it is "
                             "purged); choose another name",
                             s.label(name));
        }
        KeyRecord record;
        record.info.name = name;
        record.info.type = options.type;
        record.info.not_before = whole_seconds(options.not_before);
        record.info.expires = whole_seconds(options.expires);
        record.info.retention_days = options.retention_days;
        record.info.purge_protection = options.purge_protection;
        s.add_version(record);
        version = 1;
        s.save(record);
        return record.info;
    });
}

KeyInfo LocalVault::rotate_key(const std::string& name) {
    const std::lock_guard guard(mutex_);
    return state_->change("rotate-key", name, [&](KeyRecord& record, VersionOut& version) {
        if (!record.info.enabled) {
            throw error_for({KeyState::disabled,
                             state_->label(name) + " is disabled; enable it before rotating it"});
        }
        state_->add_version(record);
        version = record.info.versions.back().version;
    });
}

std::vector<KeyInfo> LocalVault::list_keys(bool include_deleted) {
    const std::lock_guard guard(mutex_);
    std::vector<KeyInfo> keys;
    for (const std::string& name : key_file_names(state_->keys_directory())) {
        KeyRecord record = state_->load(name);
        if (include_deleted || !record.info.deleted) {
            keys.push_back(std::move(record.info));
        }
    }
    return keys;
}

KeyInfo LocalVault::describe_key(const std::string& name) {
    const std::lock_guard guard(mutex_);
    return state_->load(name).info;
}

KeyInfo LocalVault::set_enabled(const std::string& name, bool enabled) {
    const std::lock_guard guard(mutex_);
    return state_->change(enabled ? "enable" : "disable", name,
                          [&](KeyRecord& record, VersionOut&) { record.info.enabled = enabled; });
}

KeyInfo LocalVault::set_validity(const std::string& name, std::optional<TimePoint> not_before,
                                 std::optional<TimePoint> expires) {
    const std::lock_guard guard(mutex_);
    return state_->change("set-validity", name, [&](KeyRecord& record, VersionOut&) {
        check_validity(whole_seconds(not_before), whole_seconds(expires));
        record.info.not_before = whole_seconds(not_before);
        record.info.expires = whole_seconds(expires);
    });
}

KeyInfo LocalVault::soft_delete(const std::string& name) {
    const std::lock_guard guard(mutex_);
    return state_->change("delete", name, [&](KeyRecord& record, VersionOut&) {
        record.info.deleted = whole_seconds(state_->now());
    });
}

KeyInfo LocalVault::recover(const std::string& name) {
    const std::lock_guard guard(mutex_);
    const State& s = *state_;
    return s.audited("recover", name, [&](VersionOut&) {
        KeyRecord record = s.load(name);
        if (!record.info.deleted) {
            throw keys_error(KeysErrc::invalid_argument,
                             "{} is not deleted; only a deleted key can be recovered",
                             s.label(name));
        }
        record.info.deleted.reset();
        s.save(record);
        return record.info;
    });
}

void LocalVault::purge(const std::string& name) {
    const std::lock_guard guard(mutex_);
    const State& s = *state_;
    s.audited("purge", name, [&](VersionOut&) {
        const KeyInfo info = s.load(name).info;
        if (!info.deleted) {
            throw keys_error(KeysErrc::refused,
                             "{} is not deleted: soft-delete it first, then purge it",
                             s.label(name));
        }
        const TimePoint purgeable = *info.deleted + std::chrono::hours(24) * info.retention_days;
        if (info.purge_protection && s.now() < purgeable) {
            throw keys_error(KeysErrc::refused,
                             "{} is purge-protected: deleted at {} with {} days of retention, it "
                             "can be purged from {}",
                             s.label(name), format_utc(*info.deleted), info.retention_days,
                             format_utc(purgeable));
        }
        s.remove(name);
        return true;  // audited() needs a value to hand back
    });
}

}  // namespace hostcrypt::keys
