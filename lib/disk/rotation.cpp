#include "disk/rotation.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/files.hpp"
#include "disk/disk_error.hpp"
#include "disk/header_slots.hpp"
#include "keys/keys_error.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::disk {

namespace fs = std::filesystem;

std::unique_ptr<storage::Storage> open_backing_for_update(const fs::path& path) {
    return storage::FileStorage::open(path, storage::FileStorage::Mode::read_write);
}

RewrapOutcome rewrap_disk(storage::Storage& storage, const std::string& disk,
                          const keys::EncryptionSet& set, keys::KeyProviders& providers) {
    DiskHeader header = read_newest_header(storage, disk);
    const std::vector<keys::LayerKeySpec> specs = keys::layer_key_specs(set);
    if (specs.size() != header.layers.size()) {
        throw DiskError(
            DiskErrc::corrupt,
            fmt::format("disk {} has {} layers but its set {} ({}) has {}", disk,
                        header.layers.size(), set.name, keys::to_string(set.type), specs.size()));
    }
    RewrapOutcome outcome{disk, false, {}, {}, {}};
    for (std::size_t i = 0; i < specs.size(); ++i) {
        CipherLayer& layer = header.layers[i];
        outcome.before.push_back(layer.kek);
        keys::KeyWrapper& target_provider = providers.provider(specs[i].provider);
        const keys::KeyRef target{
            specs[i].provider, specs[i].key_name,
            specs[i].version.value_or(target_provider.latest_version(specs[i].key_name))};
        if (layer.kek != target) {
            const crypto::SecureBytes dek =
                providers.provider(layer.kek.provider).unwrap(layer.kek, layer.wrapped_dek);
            keys::WrappedKey wrapped =
                target_provider.wrap(target.name, target.version, dek.bytes());
            layer.kek = wrapped.kek;
            layer.wrapped_dek = std::move(wrapped.blob);
            outcome.changed = true;
        }
        outcome.after.push_back(layer.kek);
    }
    if (outcome.changed) {
        header.rotated = system_now();
        write_header(storage, header, disk);
    } else if (!header_slots_in_step(storage, disk)) {
        // An update that crashed between its two slot writes left the newest
        // header in one slot only: finish it, so the fallback copy does not
        // name key versions that are about to be pruned.
        write_header(storage, header, disk);
    }
    return outcome;
}

std::vector<RewrapOutcome> Rotation::rewrap_where(
    const std::function<bool(const keys::EncryptionSet&)>& selected) {
    std::vector<RewrapOutcome> outcomes;
    for (const CatalogEntry& entry : catalog_.list()) {
        RewrapOutcome outcome{entry.name, false, {}, {}, {}};
        try {
            const keys::EncryptionSet set = sets_.get(entry.set);
            if (!selected(set)) {
                continue;
            }
            const auto storage = opener_(entry.path);
            outcome = rewrap_disk(*storage, entry.name, set, providers_);
        } catch (const Error& error) {
            // One disk's failure must not stop the others; it is reported and
            // the rotation can be run again.
            outcome.error = error.what();
        }
        outcomes.push_back(std::move(outcome));
    }
    return outcomes;
}

std::vector<RewrapOutcome> Rotation::rewrap_set(const std::string& set_name) {
    sets_.get(set_name);  // KeysError(not_found) for an unknown set
    return rewrap_where([&](const keys::EncryptionSet& set) { return set.name == set_name; });
}

std::vector<RewrapOutcome> Rotation::rewrap_platform_layers() {
    return rewrap_where(
        [](const keys::EncryptionSet& set) { return set.type != keys::EncryptionType::customer; });
}

std::vector<RewrapOutcome> Rotation::rewrap_following(const std::string& vault,
                                                      const std::string& key_name) {
    return rewrap_where([&](const keys::EncryptionSet& set) {
        return set.type != keys::EncryptionType::platform && set.vault == vault &&
               set.key_name == key_name && !set.key_version;
    });
}

bool PlatformRotation::complete() const noexcept {
    return std::all_of(rewrapped.begin(), rewrapped.end(),
                       [](const RewrapOutcome& outcome) { return outcome.error.empty(); });
}

PlatformRotation Rotation::rotate_platform_key(std::optional<std::chrono::seconds> max_age) {
    keys::PlatformKeyStore& store = providers_.platform();
    PlatformRotation result;
    result.added = max_age ? store.rotate_if_older_than(*max_age) : store.rotate();
    result.newest = result.added ? *result.added : store.versions().back();
    result.rewrapped = rewrap_platform_layers();
    // Old versions go only once every disk is off them; else rerun to resume.
    if (result.complete()) {
        result.removed = store.prune(platform_versions_in_use());
    }
    return result;
}

std::set<std::uint32_t> Rotation::platform_versions_in_use() {
    // Both slots count: the older one is the fallback if the newer is damaged.
    std::set<std::uint32_t> versions;
    const auto add_versions_of = [&versions](const std::filesystem::path& path,
                                             const std::string& name) {
        const auto storage =
            storage::FileStorage::open(path, storage::FileStorage::Mode::read_only);
        for (const DiskHeader& header : valid_header_slots(*storage, name)) {
            for (const CipherLayer& layer : header.layers) {
                if (layer.kek.provider == keys::platform_provider) {
                    versions.insert(layer.kek.version);
                }
            }
        }
    };
    for (const CatalogEntry& entry : catalog_.list()) {
        add_versions_of(entry.path, entry.name);
    }
    for (const std::filesystem::path& directory : cache_directories_) {
        for (const std::string& stem : file_stems(directory, ".cache")) {
            try {
                add_versions_of(directory / (stem + ".cache"), "cache " + stem);
            } catch (const std::exception&) {
                // A cache whose keys cannot be told: no version is safe to drop.
                for (const keys::KeyVersionInfo& version : providers_.platform().versions()) {
                    versions.insert(version.version);
                }
            }
        }
    }
    return versions;
}

}  // namespace hostcrypt::disk
