#include "keys/platform_key_store.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/hex.hpp"
#include "crypto/aes_gcm.hpp"
#include "crypto/crypto_error.hpp"
#include "crypto/key_wrap.hpp"
#include "keys/keys_error.hpp"
#include "keys/secret_file.hpp"
#include "keys/storage_error.hpp"

namespace hostcrypt::keys {

namespace fs = std::filesystem;
using crypto::SecureBytes;
using nlohmann::json;

namespace {

constexpr std::size_t kek_size = 32;

std::string seal_context(std::uint32_t version) {
    return fmt::format("hostcrypt-platform-kek/{}", version);
}

std::span<const std::byte> bytes_of(const std::string& text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

struct KekVersion {
    KeyVersionInfo info;
    std::vector<std::byte> sealed;
};

}  // namespace

struct PlatformKeyStore::State {
    fs::path directory;
    ClockFunction clock;
    SecureBytes root;
    std::map<std::uint32_t, KekVersion> versions;

    fs::path keks_file() const { return directory / "keks.json"; }

    void load() {
        const fs::path file = keks_file();
        as_storage_error([&] { check_private_file(file); });
        try {
            const json document = json::parse(read_text_file(file));
            for (const json& entry : document.at("versions")) {
                KekVersion version;
                version.info.version = entry.at("version").get<std::uint32_t>();
                version.info.created = parse_utc(entry.at("created").get<std::string>());
                version.sealed = from_hex(entry.at("sealed").get<std::string>());
                versions[version.info.version] = std::move(version);
            }
        } catch (const std::exception& error) {
            throw KeysError(KeysErrc::storage, fmt::format("platform key file {} is corrupt: {}",
                                                           file.string(), error.what()));
        }
        if (versions.empty()) {
            throw KeysError(KeysErrc::storage,
                            fmt::format("platform key file {} holds no key", file.string()));
        }
        // Every version must open under this root key now, before anything
        // is wrapped or sealed: a replaced root.key is found here, not after
        // a new version was sealed under it.
        for (const auto& [number, version] : versions) {
            kek(number);
        }
    }

    void save() const {
        json list = json::array();
        for (const auto& [number, version] : versions) {
            list.push_back({{"version", number},
                            {"created", format_utc(version.info.created)},
                            {"sealed", to_hex(version.sealed)}});
        }
        const json document{{"format", 1}, {"versions", list}};
        write_text_file_atomically(keks_file(), document.dump(2) + "\n", 0600);
    }

    KeyVersionInfo add_version() {
        const std::uint32_t number = versions.empty() ? 1 : versions.rbegin()->first + 1;
        const SecureBytes kek = SecureBytes::random(kek_size);
        KekVersion version;
        version.info = {number, clock()};
        version.sealed =
            crypto::aes_gcm_seal(root.bytes(), kek.bytes(), bytes_of(seal_context(number)));
        versions[number] = std::move(version);
        save();
        return versions[number].info;
    }

    SecureBytes kek(std::uint32_t number) const {
        const auto found = versions.find(number);
        if (found == versions.end()) {
            throw KeysError(KeysErrc::not_found,
                            fmt::format("platform key version {} does not exist", number));
        }
        try {
            return crypto::aes_gcm_open(root.bytes(), found->second.sealed,
                                        bytes_of(seal_context(number)));
        } catch (const crypto::CryptoError& error) {
            throw KeysError(KeysErrc::storage,
                            fmt::format("platform key version {} in {} does not open under "
                                        "root.key (was root.key replaced?): {}",
                                        number, keks_file().string(), error.what()));
        }
    }

    void check_key_name(const std::string& key_name) const {
        if (key_name != platform_key_name) {
            throw KeysError(KeysErrc::not_found,
                            fmt::format("the platform store has one key, {}, not {}",
                                        platform_key_name, key_name));
        }
    }
};

std::unique_ptr<PlatformKeyStore> PlatformKeyStore::open(const fs::path& directory,
                                                         ClockFunction clock) {
    auto state = std::make_unique<State>();
    state->directory = directory;
    state->clock = std::move(clock);
    as_storage_error([&] { ensure_private_directory(directory); });
    const bool exists = fs::exists(state->keks_file());
    if (!exists && fs::exists(directory / "root.key")) {
        // Creating keks.json now would make a new version 1 that disks wrapped
        // by the lost one would later fail to unwrap, far from the cause.
        throw KeysError(KeysErrc::storage,
                        fmt::format("platform key file {} is missing beside an existing "
                                    "root.key: restore it from a backup (if this store was "
                                    "never used, remove root.key to start afresh)",
                                    state->keks_file().string()));
    }
    state->root = load_or_create_secret(directory / "root.key", kek_size, !exists,
                                        "platform root key", "every platform key version");
    if (exists) {
        state->load();
    } else {
        state->add_version();
    }
    return std::unique_ptr<PlatformKeyStore>(new PlatformKeyStore(std::move(state)));
}

PlatformKeyStore::PlatformKeyStore(std::unique_ptr<State> state) : state_(std::move(state)) {}
PlatformKeyStore::~PlatformKeyStore() = default;

std::string PlatformKeyStore::provider_id() const {
    return platform_provider;
}

WrappedKey PlatformKeyStore::wrap(const std::string& key_name, std::optional<std::uint32_t> version,
                                  std::span<const std::byte> dek) {
    std::lock_guard lock(mutex_);
    state_->check_key_name(key_name);
    const std::uint32_t number = version.value_or(state_->versions.rbegin()->first);
    const SecureBytes kek = state_->kek(number);
    return {{platform_provider, platform_key_name, number}, crypto::aes_kwp_wrap(kek.bytes(), dek)};
}

SecureBytes PlatformKeyStore::unwrap(const KeyRef& ref, std::span<const std::byte> blob) {
    std::lock_guard lock(mutex_);
    if (ref.provider != platform_provider) {
        throw KeysError(KeysErrc::not_found,
                        fmt::format("{} is not a platform key", to_string(ref)));
    }
    state_->check_key_name(ref.name);
    const SecureBytes kek = state_->kek(ref.version);
    try {
        return crypto::aes_kwp_unwrap(kek.bytes(), blob);
    } catch (const crypto::CryptoError& error) {
        throw KeysError(KeysErrc::unwrap_failed,
                        fmt::format("cannot unwrap with {}: {}", to_string(ref), error.what()));
    }
}

KeyHealth PlatformKeyStore::health(const KeyRef& ref) {
    std::lock_guard lock(mutex_);
    if (ref.provider != platform_provider || ref.name != platform_key_name ||
        !state_->versions.contains(ref.version)) {
        return {KeyState::not_found, fmt::format("{} does not exist", to_string(ref))};
    }
    return {};
}

std::uint32_t PlatformKeyStore::latest_version(const std::string& key_name) {
    std::lock_guard lock(mutex_);
    state_->check_key_name(key_name);
    return state_->versions.rbegin()->first;
}

std::vector<KeyVersionInfo> PlatformKeyStore::versions() {
    std::lock_guard lock(mutex_);
    std::vector<KeyVersionInfo> list;
    for (const auto& [number, version] : state_->versions) {
        list.push_back(version.info);
    }
    return list;
}

KeyVersionInfo PlatformKeyStore::rotate() {
    std::lock_guard lock(mutex_);
    return state_->add_version();
}

std::optional<KeyVersionInfo> PlatformKeyStore::rotate_if_older_than(std::chrono::seconds max_age) {
    std::lock_guard lock(mutex_);
    const TimePoint newest = state_->versions.rbegin()->second.info.created;
    if (state_->clock() - newest < max_age) {
        return std::nullopt;
    }
    return state_->add_version();
}

std::vector<std::uint32_t> PlatformKeyStore::prune(const std::set<std::uint32_t>& in_use) {
    std::lock_guard lock(mutex_);
    const std::uint32_t newest = state_->versions.rbegin()->first;
    std::vector<std::uint32_t> removed;
    for (auto it = state_->versions.begin(); it != state_->versions.end();) {
        if (it->first != newest && !in_use.contains(it->first)) {
            removed.push_back(it->first);
            it = state_->versions.erase(it);
        } else {
            ++it;
        }
    }
    if (!removed.empty()) {
        state_->save();
    }
    return removed;
}

}  // namespace hostcrypt::keys
