#pragma once

// Shared by the disk tests: a state directory with its key providers,
// encryption sets and disk catalog, a clock the test controls, and helpers
// for errors, data patterns and raw file contents.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "common/utc_time.hpp"
#include "crypto/random.hpp"
#include "disk/dek_id.hpp"
#include "disk/disk.hpp"
#include "disk/disk_catalog.hpp"
#include "disk/disk_error.hpp"
#include "disk/disk_string_makers.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_providers.hpp"
#include "keys/keys_error.hpp"
#include "keys/keys_string_makers.hpp"
#include "storage/file_storage.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

namespace hostcrypt::disk::test {

namespace fs = std::filesystem;

inline constexpr std::uint64_t kib = 1024;
inline constexpr std::uint64_t mib = 1024 * kib;

// Runs `action`, which must throw DiskError, and returns what it threw.
template <typename Action>
DiskError disk_error_of(Action&& action) {
    return hostcrypt::test::thrown<DiskError>(std::forward<Action>(action));
}

inline std::vector<std::byte> random_bytes(std::size_t size) {
    std::vector<std::byte> bytes(size);
    crypto::fill_random(bytes);
    return bytes;
}

// A recognizable, non-zero pattern that differs from sector to sector.
inline std::vector<std::byte> pattern_bytes(std::size_t size, unsigned seed) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<std::byte>((i * 31 + seed * 17 + i / 512) % 251 + 1);
    }
    return bytes;
}

inline bool all_zero(std::span<const std::byte> bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// Data written to a disk: (offset, bytes) pairs.
using Samples = std::vector<std::pair<std::uint64_t, std::vector<std::byte>>>;

inline std::vector<std::byte> copy_of(std::span<const std::byte> bytes) {
    return {bytes.begin(), bytes.end()};
}

// A file's bytes and modification time, to prove an operation wrote nothing.
struct FileSnapshot {
    std::vector<std::byte> bytes;
    std::int64_t mtime_ns = 0;
    std::uint64_t size = 0;

    bool operator==(const FileSnapshot&) const = default;
};

inline FileSnapshot snapshot_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return {read_file(path), st.st_mtim.tv_sec * 1'000'000'000 + st.st_mtim.tv_nsec,
            static_cast<std::uint64_t>(st.st_size)};
}

// Sets a file's modification time far into the past, so any later write shows.
inline void age_file(const fs::path& path) {
    const struct timespec times[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

inline std::unique_ptr<storage::Storage> open_storage(const fs::path& path) {
    return storage::FileStorage::open(path, storage::FileStorage::Mode::read_write);
}

inline const char* vault_name = "local";
inline const char* vault_key = "app-key";

// A state directory below a fresh temporary directory:
//   <state>/platform, <state>/vaults/local, <state>/sets, <state>/disks
// with disks' backing files in <state>/disks/<name>.img.
class StateFixture {
  public:
    StateFixture() { reopen_providers(); }
    StateFixture(const StateFixture&) = delete;
    StateFixture& operator=(const StateFixture&) = delete;

    TimePoint now = parse_utc("2026-11-23T09:00:00Z");

    const fs::path& temp() const { return temp_.path(); }
    fs::path state() const { return temp_.path() / "state"; }
    keys::KeyProviders& providers() { return *providers_; }
    keys::SetStore& sets() { return sets_; }
    DiskCatalog& catalog() { return catalog_; }
    keys::KeyVault& vault() { return providers().open_or_create_vault(vault_name); }

    // Drops every open provider (and the vault's lock) and opens them afresh,
    // as a new process would.
    void reopen_providers() {
        providers_.reset();
        providers_ =
            std::make_unique<keys::KeyProviders>(state(), "test-actor", [this] { return now; });
    }

    // An AES-256 key in vault "local", created on first use.
    void ensure_vault_key(const std::string& key = vault_key) {
        for (const keys::KeyInfo& info : vault().list_keys(true)) {
            if (info.name == key) {
                return;
            }
        }
        keys::CreateKeyOptions options;
        options.type = keys::KeyType::aes256;
        vault().create_key(key, options);
    }

    // Creates and stores an encryption set; customer and double sets use
    // `key` of vault "local" (created if needed).
    keys::EncryptionSet add_set(const std::string& name, keys::EncryptionType type,
                                std::optional<std::uint32_t> version = std::nullopt,
                                const std::string& key = vault_key) {
        keys::EncryptionSet set;
        set.name = name;
        set.type = type;
        set.created = now;
        if (type != keys::EncryptionType::platform) {
            ensure_vault_key(key);
            set.vault = vault_name;
            set.key_name = key;
            set.key_version = version;
        }
        sets_.create(set);
        return set;
    }

    fs::path backing_path(const std::string& disk) const {
        return catalog_.default_backing_path(disk);
    }

    // Creates a disk of set `set` with its backing file in the catalog's
    // directory and adds it to the catalog.
    DiskHeader create_disk(const std::string& name, const std::string& set,
                           std::uint64_t size = 256 * kib, std::uint32_t sector_size = 4096) {
        CreateDiskOptions options;
        options.size = size;
        options.sector_size = sector_size;
        return create_disk(name, set, options);
    }

    DiskHeader create_disk(const std::string& name, const std::string& set,
                           const CreateDiskOptions& options) {
        const fs::path path = backing_path(name);
        const DiskHeader header = Disk::create(path, name, options, sets_.get(set), providers());
        catalog_.add({name, path, set, now, header.uuid});
        return header;
    }

    Disk open_disk(const std::string& name) {
        return Disk::open(open_storage(catalog_.get(name).path), name, providers());
    }

  private:
    hostcrypt::test::TempDir temp_;
    keys::SetStore sets_{temp_.path() / "state" / "sets"};
    DiskCatalog catalog_{temp_.path() / "state" / "disks"};
    std::unique_ptr<keys::KeyProviders> providers_;
};

inline const std::vector<keys::EncryptionType> all_encryption_types{
    keys::EncryptionType::platform, keys::EncryptionType::customer, keys::EncryptionType::double_};

// The public ids of DEKs, innermost first.
inline std::vector<std::string> dek_ids_of(const std::vector<crypto::SecureBytes>& deks) {
    std::vector<std::string> ids;
    for (const crypto::SecureBytes& dek : deks) {
        ids.push_back(dek_id(dek));
    }
    return ids;
}

// The key that wraps each layer of `header`, innermost first, as text.
inline std::vector<std::string> keks_of(const DiskHeader& header) {
    std::vector<std::string> refs;
    for (const CipherLayer& layer : header.layers) {
        refs.push_back(keys::to_string(layer.kek));
    }
    return refs;
}

}  // namespace hostcrypt::disk::test
