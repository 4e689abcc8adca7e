// LocalVault's files and safety: the master key a new vault creates, the
// permissions of the directory and master key, corrupt or foreign files, one
// vault object per directory, the audit log, DEKs that never reach a file,
// and several threads at once.

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "common/hex.hpp"
#include "keys/keys_error.hpp"
#include "keys/local_vault.hpp"
#include "keys/local_vault_fixture.hpp"
#include "support/thrown.hpp"

using hostcrypt::test::thrown;
using namespace hostcrypt;
using namespace hostcrypt::keys;
using namespace hostcrypt::keys::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::span<const std::byte> bytes_of(const std::string& text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

// The files below `root` whose raw bytes contain `needle` anywhere.
std::vector<std::string> files_containing(const fs::path& root, std::span<const std::byte> needle) {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (!entry.is_regular_file()) {
            continue;
        }
        const std::vector<std::byte> content = read_file(entry.path());
        if (std::search(content.begin(), content.end(), needle.begin(), needle.end()) !=
            content.end()) {
            found.push_back(entry.path().string());
        }
    }
    return found;
}

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](char c) { return c >= 'a' && c <= 'f' ? static_cast<char>(c - 32) : c; });
    return text;
}

// Neither the bytes nor their hex (in either case) may be in any file of the vault.
void check_nowhere_on_disk(const fs::path& root, std::span<const std::byte> secret) {
    CHECK(files_containing(root, secret).empty());
    const std::string hex = to_hex(secret);
    CHECK(files_containing(root, bytes_of(hex)).empty());
    CHECK(files_containing(root, bytes_of(upper(hex))).empty());
}

std::vector<nlohmann::json> audit_lines(const fs::path& directory) {
    std::istringstream log(read_text_file(directory / "audit.log"));
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(log, line);) {
        lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
}

void set_mode(const fs::path& path, mode_t mode) {
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

}  // namespace

TEST_CASE("a new vault creates a private master key", "[vault]") {
    Fixture f;
    CHECK(f.vault->vault_name() == "local");
    CHECK(f.vault->provider_id() == "vault:local");
    CHECK(fs::file_size(f.directory / "master.key") == 32);
    CHECK_NOTHROW(check_private_file(f.directory / "master.key"));
    CHECK(f.vault->list_keys(true).empty());
}

TEST_CASE("a vault directory open to others is refused", "[vault][errors]") {
    TempDir temp;
    const fs::path directory = temp.path() / "vault";
    LocalVault::open(directory, "local", "alice").reset();
    set_mode(directory, 0755);
    const KeysError error =
        thrown<KeysError>([&] { LocalVault::open(directory, "local", "alice"); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(message(error), Contains("chmod 0700"));
}

TEST_CASE("a master key readable by others is refused", "[vault][errors]") {
    Fixture f;
    f.vault.reset();
    set_mode(f.directory / "master.key", 0644);
    const KeysError error = thrown<KeysError>([&] { f.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(message(error), Contains("master.key has mode 0644"));
    CHECK_THAT(message(error), Contains("chmod 0600"));
}

TEST_CASE("a master key that is not 32 bytes is refused", "[vault][errors]") {
    Fixture f;
    f.vault.reset();
    const std::size_t size = GENERATE(0u, 31u, 33u);
    write_file_atomically(f.directory / "master.key", random_dek(size), 0600);
    const KeysError error = thrown<KeysError>([&] { f.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(message(error), Contains("not 32 bytes"));
}

TEST_CASE("a missing master key is not replaced while keys depend on it", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    f.vault->create_key("other-key", aes);
    f.vault.reset();
    fs::remove(f.directory / "master.key");
    const KeysError error = thrown<KeysError>([&] { f.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(message(error), Contains("master.key is missing"));
    CHECK_THAT(message(error), Contains("would orphan 2 keys"));
    CHECK_FALSE(fs::exists(f.directory / "master.key"));
}

TEST_CASE("a corrupt key file is reported by its path", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    f.vault->create_key("good-key", aes);
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, random_dek());
    const fs::path path = f.directory / "keys" / "app-key.json";
    const std::string garbage =
        GENERATE(std::string("{not json"), std::string("{\"format\": 1}"), std::string(""),
                 std::string("{\"format\": 2, \"name\": \"app-key\"}"));
    write_text_file_atomically(path, garbage, 0600);

    for (const KeysError& error :
         {thrown<KeysError>([&] { f.vault->describe_key("app-key"); }),
          thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, wrapped.blob); }),
          thrown<KeysError>([&] { f.vault->list_keys(true); })}) {
        CHECK(error.code() == KeysErrc::storage);
        CHECK_THAT(message(error), Contains(path.string() + " is corrupt"));
    }
    const KeyHealth health = f.vault->health(wrapped.kek);
    CHECK(health.state == KeyState::unreachable);
    CHECK_THAT(health.reason, Contains(path.string()));
    CHECK(f.vault->health(ref("good-key", 1)).usable());
}

TEST_CASE("a key file copied under another name does not open", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    fs::copy_file(f.directory / "keys" / "app-key.json", f.directory / "keys" / "copy.json");
    const KeysError error = thrown<KeysError>([&] { f.vault->describe_key("copy"); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(message(error), Contains("describes key 'app-key'"));
}

TEST_CASE("another vault's master key does not open this vault's keys", "[vault][errors]") {
    Fixture f;
    Fixture other;
    f.vault->create_key("app-key", aes);
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, random_dek());
    f.vault.reset();
    other.vault.reset();
    fs::copy_file(other.directory / "master.key", f.directory / "master.key",
                  fs::copy_options::overwrite_existing);
    f.reopen();

    const fs::path path = f.directory / "keys" / "app-key.json";
    for (const KeysError& error :
         {thrown<KeysError>([&] { f.vault->describe_key("app-key"); }),
          thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, wrapped.blob); })}) {
        CHECK(error.code() == KeysErrc::storage);
        CHECK_THAT(message(error), Contains(path.string()));
        CHECK_THAT(message(error), Contains("does not open under the master key"));
    }
}

TEST_CASE("one vault object at a time uses a vault directory", "[vault][errors]") {
    Fixture f;
    const KeysError error = thrown<KeysError>([&] { f.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(message(error), Contains("in use"));
    f.reopen();
    CHECK(f.vault->list_keys(true).empty());
}

TEST_CASE("the audit log has one JSON line per operation including failures", "[vault]") {
    Fixture f;
    const auto dek = random_dek();
    f.vault->create_key("app-key", aes);
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, dek);
    f.vault->unwrap(wrapped.kek, wrapped.blob);
    f.vault->rotate_key("app-key");
    f.vault->set_enabled("app-key", false);
    thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, wrapped.blob); });
    f.vault->set_enabled("app-key", true);
    f.vault->set_validity("app-key", std::nullopt, f.clock.now() + day);
    f.vault->soft_delete("app-key");
    thrown<KeysError>([&] { f.vault->purge("app-key"); });
    f.vault->recover("app-key");
    thrown<KeysError>([&] { f.vault->create_key("bad\xff/name", aes); });
    f.vault->health(wrapped.kek);  // reads are not audited
    f.vault->describe_key("app-key");

    const std::vector<nlohmann::json> lines = audit_lines(f.directory);
    const std::vector<std::string> operations{"create-key", "wrap",   "unwrap",  "rotate-key",
                                              "disable",    "unwrap", "enable",  "set-validity",
                                              "delete",     "purge",  "recover", "create-key"};
    REQUIRE(lines.size() == operations.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        INFO("line " << i << ": " << lines[i].dump());
        CHECK(lines[i].at("operation") == operations[i]);
        CHECK(lines[i].at("actor") == "alice");
        CHECK(lines[i].at("vault") == "local");
        CHECK(lines[i].at("time") == "2026-03-01T12:00:00Z");
        if (i + 1 < lines.size()) {
            CHECK(lines[i].at("key") == "app-key");
        }
    }
    CHECK(lines[0].at("version") == 1);
    CHECK(lines[1].at("version") == 1);
    CHECK(lines[3].at("version") == 2);
    CHECK(lines[4].at("version").is_null());
    for (const std::size_t ok : {0u, 1u, 2u, 3u, 4u, 6u, 7u, 8u, 10u}) {
        CHECK(lines[ok].at("result") == "ok");
    }
    CHECK_THAT(lines[5].at("result").get<std::string>(),
               StartsWith("error: ") && Contains("disabled"));
    CHECK_THAT(lines[9].at("result").get<std::string>(),
               StartsWith("error: ") && Contains("purge-protected"));
    CHECK_THAT(lines[11].at("result").get<std::string>(), StartsWith("error: invalid key name"));

    check_nowhere_on_disk(f.directory, dek);
    check_nowhere_on_disk(f.directory, wrapped.blob);
}

TEST_CASE("each vault object's actor is named in the audit log", "[vault]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    f.vault.reset();
    f.vault = f.open("bob");
    f.vault->soft_delete("app-key");
    const std::vector<nlohmann::json> lines = audit_lines(f.directory);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].at("actor") == "alice");
    CHECK(lines[1].at("actor") == "bob");
    CHECK_NOTHROW(check_private_file(f.directory / "audit.log"));
}

TEST_CASE("DEKs never reach the vault's files", "[vault]") {
    Fixture f;
    const CreateKeyOptions options = GENERATE(aes, rsa);
    f.vault->create_key("app-key", options);
    std::vector<std::vector<std::byte>> deks;
    for (int i = 0; i < 4; ++i) {
        deks.push_back(random_dek(i % 2 == 0 ? 32 : 64));
        const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, deks.back());
        CHECK(f.vault->unwrap(wrapped.kek, wrapped.blob).equals(deks.back()));
        f.vault->rotate_key("app-key");
    }
    f.reopen();
    for (const auto& dek : deks) {
        check_nowhere_on_disk(f.directory, dek);
    }
}

TEST_CASE("a vault serves several threads at once", "[vault]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    const auto dek = random_dek();
    std::vector<std::thread> threads;
    std::vector<int> failures(4, 0);
    for (std::size_t t = 0; t < failures.size(); ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, dek);
                if (!f.vault->unwrap(wrapped.kek, wrapped.blob).equals(dek)) {
                    ++failures[t];
                }
                if (t == 0) {
                    f.vault->rotate_key("app-key");
                }
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    CHECK(failures == std::vector<int>(4, 0));
    CHECK(f.vault->latest_version("app-key") == 11);
    CHECK(audit_lines(f.directory).size() == 1 + 4 * 10 * 2 + 10);
}
