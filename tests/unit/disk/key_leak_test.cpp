// No key and no plaintext ever reaches a file: after disks of every type have
// been created and written, every file of the state directory and every
// backing file is scanned, raw and as hex text, for every secret.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "common/hex.hpp"
#include "crypto/aes_gcm.hpp"
#include "crypto/key_wrap.hpp"
#include "disk/disk_fixture.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using keys::EncryptionType;

namespace {

struct Secret {
    std::string what;
    std::vector<std::byte> bytes;
};

struct ScannedFile {
    fs::path path;
    std::vector<std::byte> bytes;
};

std::vector<ScannedFile> every_file_below(const fs::path& directory) {
    std::vector<ScannedFile> files;
    for (const auto& entry : fs::recursive_directory_iterator(directory)) {
        if (entry.is_regular_file()) {
            files.push_back({entry.path(), read_file(entry.path())});
        }
    }
    return files;
}

bool contains(const std::vector<std::byte>& haystack, std::span<const std::byte> needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

std::vector<std::byte> bytes_of(const std::string& text) {
    const auto* data = reinterpret_cast<const std::byte*>(text.data());
    return {data, data + text.size()};
}

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](char c) { return static_cast<char>(std::toupper(c)); });
    return text;
}

// Where `secret` occurs in `file` as raw bytes or as hex text, in whole or
// either half (an XTS key is two AES keys); empty if nowhere.
std::vector<std::string> occurrences(const ScannedFile& file, const Secret& secret) {
    std::vector<std::string> found;
    const std::span<const std::byte> whole(secret.bytes);
    std::vector<std::pair<std::string, std::span<const std::byte>>> parts{{"", whole}};
    if (whole.size() >= 32) {
        parts.push_back({" (first half)", whole.first(whole.size() / 2)});
        parts.push_back({" (second half)", whole.subspan(whole.size() / 2)});
    }
    for (const auto& [part, bytes] : parts) {
        const std::string hex = to_hex(bytes);
        for (const auto& [form, needle] :
             std::vector<std::pair<std::string, std::vector<std::byte>>>{
                 {"raw", copy_of(bytes)}, {"hex", bytes_of(hex)}, {"HEX", bytes_of(upper(hex))}}) {
            if (contains(file.bytes, needle)) {
                found.push_back(fmt::format("{}{} found {} in {}", secret.what, part, form,
                                            file.path.string()));
            }
        }
    }
    return found;
}

// Opens every sealed key version in a key file of the state directory with
// the secret that seals it, as the file formats document.
std::vector<Secret> unsealed_versions(const fs::path& file, std::span<const std::byte> sealing_key,
                                      const std::string& context_prefix, const std::string& what) {
    std::vector<Secret> secrets;
    const nlohmann::json document = nlohmann::json::parse(read_text_file(file));
    for (const auto& version : document.at("versions")) {
        const auto number = version.at("version").get<std::uint32_t>();
        const std::string context = fmt::format("{}{}", context_prefix, number);
        const crypto::SecureBytes key = crypto::aes_gcm_open(
            sealing_key, from_hex(version.at("sealed").get<std::string>()), bytes_of(context));
        secrets.push_back({fmt::format("{} version {}", what, number), copy_of(key.bytes())});
    }
    return secrets;
}

}  // namespace

TEST_CASE("no key and no plaintext appears in any file of the state or the disks", "[disk][leak]") {
    StateFixture state;
    state.add_set("plat", EncryptionType::platform);
    state.add_set("cust", EncryptionType::customer);
    state.add_set("dbl", EncryptionType::double_);
    // A second version of each KEK, so more than one of each is on disk.
    state.providers().platform().rotate();
    state.vault().rotate_key(vault_key);

    // A distinctive plaintext of two whole 4096-byte sectors.
    std::vector<std::byte> plaintext;
    for (int i = 0; plaintext.size() < 8192; ++i) {
        const std::string chunk = fmt::format("hostcrypt-plaintext-marker-{:06}|", i);
        const auto bytes = bytes_of(chunk);
        plaintext.insert(plaintext.end(), bytes.begin(), bytes.end());
    }
    plaintext.resize(8192);

    std::vector<Secret> secrets;
    std::vector<fs::path> backing_files;
    for (const auto& [name, set, sector_size] :
         std::vector<std::tuple<std::string, std::string, std::uint32_t>>{
             {"p", "plat", 4096}, {"c", "cust", 512}, {"d", "dbl", 4096}}) {
        CreateDiskOptions options;
        options.size = 256 * kib;
        options.sector_size = sector_size;
        options.preallocate = name == "d";  // the preallocation path writes too
        state.create_disk(name, set, options);
        Disk disk = state.open_disk(name);
        disk.write(0, plaintext);
        disk.write(128 * kib, plaintext);
        disk.flush();
        for (std::size_t layer = 0; layer < disk.keys().deks.size(); ++layer) {
            secrets.push_back({fmt::format("DEK of disk {} layer {}", name, layer),
                               copy_of(disk.keys().deks[layer].bytes())});
        }
        backing_files.push_back(state.backing_path(name));
    }
    // Every backing file is below the state directory; scan outside copies too.
    std::vector<ScannedFile> files = every_file_below(state.temp());
    REQUIRE(files.size() > 10);

    // The root secrets, each allowed only in its own file.
    const fs::path root_key_file = state.state() / "platform" / "root.key";
    const fs::path master_key_file = state.state() / "vaults" / vault_name / "master.key";
    const std::vector<std::byte> root_key = read_file(root_key_file);
    const std::vector<std::byte> master_key = read_file(master_key_file);
    REQUIRE(root_key.size() == 32);
    REQUIRE(master_key.size() == 32);

    // The KEKs they seal, recovered from the files as their formats describe.
    for (Secret& kek : unsealed_versions(state.state() / "platform" / "keks.json", root_key,
                                         "hostcrypt-platform-kek/", "platform KEK")) {
        secrets.push_back(std::move(kek));
    }
    for (Secret& key : unsealed_versions(
             state.state() / "vaults" / vault_name / "keys" / (std::string(vault_key) + ".json"),
             master_key, "hostcrypt-vault/local/app-key/", "vault key app-key")) {
        secrets.push_back(std::move(key));
    }
    REQUIRE(secrets.size() == 4 + 2 + 2);  // four DEKs, two platform KEKs, two vault keys

    // The recovered platform KEK really is the one that wraps the platform DEK.
    {
        Disk disk = state.open_disk("p");
        const CipherLayer& layer = disk.header().layers[0];
        REQUIRE(layer.kek.version == 2);
        CHECK(crypto::aes_kwp_unwrap(secrets[4 + 1].bytes, layer.wrapped_dek)
                  .equals(disk.keys().deks[0].bytes()));
    }

    std::vector<std::string> leaks;
    for (const ScannedFile& file : files) {
        for (const Secret& secret : secrets) {
            for (std::string& leak : occurrences(file, secret)) {
                leaks.push_back(std::move(leak));
            }
        }
        if (file.path != root_key_file) {
            for (std::string& leak : occurrences(file, {"platform root.key", root_key})) {
                leaks.push_back(std::move(leak));
            }
        }
        if (file.path != master_key_file) {
            for (std::string& leak : occurrences(file, {"vault master.key", master_key})) {
                leaks.push_back(std::move(leak));
            }
        }
    }
    std::string report;
    for (const std::string& leak : leaks) {
        report += leak + "\n";
    }
    INFO(report);
    CHECK(leaks.empty());

    // The plaintext, or any one sector of it, is nowhere in a backing file.
    for (const fs::path& path : backing_files) {
        const std::vector<std::byte> backing = read_file(path);
        INFO(path.string());
        CHECK_FALSE(contains(backing, plaintext));
        CHECK_FALSE(contains(backing, std::span(plaintext).first(512)));
        CHECK_FALSE(contains(backing, std::span(plaintext).subspan(4096, 512)));
    }
}
