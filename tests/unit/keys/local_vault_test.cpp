#include "keys/local_vault.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "common/files.hpp"
#include "common/hex.hpp"
#include "common/utc_time.hpp"
#include "crypto/random.hpp"
#include "keys/keys_error.hpp"
#include "support/thrown.hpp"

using hostcrypt::test::thrown;
using namespace hostcrypt;
using namespace hostcrypt::keys;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
namespace fs = std::filesystem;

namespace Catch {
template <>
struct StringMaker<KeyState> {
    static std::string convert(KeyState state) { return to_string(state); }
};
template <>
struct StringMaker<KeysErrc> {
    static std::string convert(KeysErrc code) {
        switch (code) {
            case KeysErrc::not_found:
                return "not_found";
            case KeysErrc::already_exists:
                return "already_exists";
            case KeysErrc::key_unusable:
                return "key_unusable";
            case KeysErrc::refused:
                return "refused";
            case KeysErrc::invalid_argument:
                return "invalid_argument";
            case KeysErrc::unwrap_failed:
                return "unwrap_failed";
            case KeysErrc::storage:
                return "storage";
        }
        return "unknown";
    }
};
}  // namespace Catch

namespace {

constexpr auto day = std::chrono::hours(24);

// A directory of its own for each test, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        std::random_device random;
        path_ = fs::temp_directory_path() /
                fmt::format("hostcrypt-vault-test-{}-{:08x}", ::getpid(), random());
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

// Time that only moves when a test moves it.
struct TestClock {
    std::shared_ptr<TimePoint> time =
        std::make_shared<TimePoint>(parse_utc("2026-03-01T12:00:00Z"));

    ClockFunction function() const {
        return [shared = time] { return *shared; };
    }
    TimePoint now() const { return *time; }
    void advance(std::chrono::system_clock::duration by) const { *time += by; }
};

struct Fixture {
    TempDir temp;
    TestClock clock;
    fs::path directory = temp.path() / "vault";
    std::unique_ptr<LocalVault> vault = open();

    std::unique_ptr<LocalVault> open(const std::string& actor = "alice") const {
        return LocalVault::open(directory, "local", actor, clock.function());
    }
    void reopen() {
        vault.reset();
        vault = open();
    }
};

CreateKeyOptions options_for(KeyType type) {
    CreateKeyOptions options;
    options.type = type;
    return options;
}

const CreateKeyOptions aes = options_for(KeyType::aes256);
const CreateKeyOptions rsa = options_for(KeyType::rsa2048);

std::vector<std::byte> random_dek(std::size_t size = 64) {
    std::vector<std::byte> dek(size);
    crypto::fill_random(dek);
    return dek;
}

KeyRef ref(const std::string& name, std::uint32_t version) {
    return {"vault:local", name, version};
}

std::string message(const KeysError& error) {
    return error.what();
}

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

TEST_CASE("AES-256 and RSA-2048 keys wrap and unwrap a DEK", "[vault]") {
    Fixture f;
    const CreateKeyOptions options = GENERATE(aes, rsa);
    const KeyInfo info = f.vault->create_key("app-key", options);
    CHECK(info.name == "app-key");
    CHECK(info.type == options.type);
    CHECK(info.enabled);
    CHECK(info.retention_days == 90);
    CHECK(info.purge_protection);
    CHECK_FALSE(info.deleted);
    REQUIRE(info.versions.size() == 1);
    CHECK(info.versions[0].version == 1);
    CHECK(info.versions[0].created == f.clock.now());

    const auto dek = random_dek();
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, dek);
    CHECK(wrapped.kek == KeyRef{"vault:local", "app-key", 1});
    CHECK(wrapped.blob.size() == (options.type == KeyType::aes256 ? 72u : 256u));
    CHECK(f.vault->unwrap(wrapped.kek, wrapped.blob).equals(dek));
    CHECK(f.vault->health(wrapped.kek).usable());
    CHECK(f.vault->health(wrapped.kek).reason.empty());
}

TEST_CASE("RSA-3072 and RSA-4096 keys wrap and unwrap a DEK", "[vault][slow]") {
    Fixture f;
    f.vault->create_key("k3072", options_for(KeyType::rsa3072));
    f.vault->create_key("k4096", options_for(KeyType::rsa4096));
    const auto dek = random_dek();
    for (const auto& [name, size] : {std::pair{"k3072", 384u}, std::pair{"k4096", 512u}}) {
        const WrappedKey wrapped = f.vault->wrap(name, std::nullopt, dek);
        CHECK(wrapped.blob.size() == size);
        CHECK(f.vault->unwrap(wrapped.kek, wrapped.blob).equals(dek));
    }
    CHECK(f.vault->describe_key("k4096").type == KeyType::rsa4096);
}

TEST_CASE("rotation adds a newest version and old versions still unwrap", "[vault]") {
    Fixture f;
    const CreateKeyOptions options = GENERATE(aes, rsa);
    f.vault->create_key("app-key", options);
    const auto dek = random_dek();
    const WrappedKey first = f.vault->wrap("app-key", std::nullopt, dek);

    f.clock.advance(1h);
    const KeyInfo rotated = f.vault->rotate_key("app-key");
    REQUIRE(rotated.versions.size() == 2);
    CHECK(rotated.versions[1].version == 2);
    CHECK(rotated.versions[1].created == f.clock.now());
    CHECK(rotated.type == options.type);
    CHECK(f.vault->latest_version("app-key") == 2);

    const WrappedKey second = f.vault->wrap("app-key", std::nullopt, dek);
    CHECK(second.kek.version == 2);
    CHECK(f.vault->unwrap(second.kek, second.blob).equals(dek));
    CHECK(f.vault->unwrap(first.kek, first.blob).equals(dek));

    const WrappedKey explicit_first = f.vault->wrap("app-key", 1, dek);
    CHECK(explicit_first.kek.version == 1);
    CHECK(f.vault->unwrap(ref("app-key", 1), explicit_first.blob).equals(dek));
    // Each version is its own key: a blob does not unwrap under its sibling.
    CHECK(thrown<KeysError>([&] { f.vault->unwrap(ref("app-key", 2), first.blob); }).code() ==
          KeysErrc::unwrap_failed);
}

TEST_CASE("keys with their versions and attributes survive reopening the vault", "[vault]") {
    Fixture f;
    const auto dek = random_dek();
    f.vault->create_key("aes-key", aes);
    f.vault->create_key("rsa-key", rsa);
    const WrappedKey aes_v1 = f.vault->wrap("aes-key", std::nullopt, dek);
    const WrappedKey rsa_v1 = f.vault->wrap("rsa-key", std::nullopt, dek);
    f.vault->rotate_key("aes-key");
    const WrappedKey aes_v2 = f.vault->wrap("aes-key", std::nullopt, dek);
    const TimePoint expires = f.clock.now() + 30 * day;
    f.vault->set_validity("rsa-key", std::nullopt, expires);

    f.reopen();
    const std::vector<KeyInfo> keys = f.vault->list_keys(false);
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].name == "aes-key");
    CHECK(keys[0].versions.size() == 2);
    CHECK(keys[1].name == "rsa-key");
    CHECK(keys[1].type == KeyType::rsa2048);
    CHECK(keys[1].expires == expires);
    CHECK(f.vault->unwrap(aes_v1.kek, aes_v1.blob).equals(dek));
    CHECK(f.vault->unwrap(aes_v2.kek, aes_v2.blob).equals(dek));
    CHECK(f.vault->unwrap(rsa_v1.kek, rsa_v1.blob).equals(dek));
}

TEST_CASE("a key file is pretty JSON in the documented format", "[vault]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    const fs::path path = f.directory / "keys" / "app-key.json";
    CHECK_NOTHROW(check_private_file(path));
    const std::string text = read_text_file(path);
    CHECK_THAT(text, Contains("\n  \"name\": \"app-key\""));
    const auto json = nlohmann::json::parse(text);
    CHECK(json.at("format") == 1);
    CHECK(json.at("type") == "aes-256");
    CHECK(json.at("enabled") == true);
    CHECK(json.at("not_before").is_null());
    CHECK(json.at("deleted").is_null());
    CHECK(json.at("retention_days") == 90);
    CHECK(json.at("purge_protection") == true);
    CHECK(json.at("versions").at(0).at("version") == 1);
    CHECK(json.at("versions").at(0).at("created") == "2026-03-01T12:00:00Z");
    // nonce, 32 bytes of sealed key, tag
    CHECK(json.at("versions").at(0).at("sealed").get<std::string>().size() == 2 * (12 + 32 + 16));
}

TEST_CASE("a disabled key neither wraps nor unwraps until enabled", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    const auto dek = random_dek();
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, dek);

    CHECK_FALSE(f.vault->set_enabled("app-key", false).enabled);
    const KeyHealth health = f.vault->health(wrapped.kek);
    CHECK(health.state == KeyState::disabled);
    CHECK_THAT(health.reason, Contains("key app-key in vault local was disabled"));

    const KeysError wrap_error = thrown<KeysError>([&] { f.vault->wrap("app-key", 1, dek); });
    CHECK(wrap_error.code() == KeysErrc::key_unusable);
    CHECK(wrap_error.state() == KeyState::disabled);
    CHECK_THAT(message(wrap_error), Contains("was disabled"));
    const KeysError unwrap_error =
        thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, wrapped.blob); });
    CHECK(unwrap_error.code() == KeysErrc::key_unusable);
    CHECK(unwrap_error.state() == KeyState::disabled);
    CHECK_THAT(message(unwrap_error), Contains("enable it"));

    const KeysError rotate_error = thrown<KeysError>([&] { f.vault->rotate_key("app-key"); });
    CHECK(rotate_error.code() == KeysErrc::key_unusable);
    CHECK(rotate_error.state() == KeyState::disabled);
    CHECK_THAT(message(rotate_error), Contains("enable it before rotating"));

    CHECK(f.vault->set_enabled("app-key", true).enabled);
    CHECK(f.vault->health(wrapped.kek).usable());
    CHECK(f.vault->unwrap(wrapped.kek, wrapped.blob).equals(dek));
}

TEST_CASE("not-before and expiry times govern use as the clock moves", "[vault][errors]") {
    Fixture f;
    const auto dek = random_dek();
    CreateKeyOptions options = aes;
    options.not_before = f.clock.now() + 1h;
    options.expires = f.clock.now() + 2h;
    const KeyInfo info = f.vault->create_key("app-key", options);
    CHECK(info.not_before == options.not_before);

    KeyHealth health = f.vault->health(ref("app-key", 1));
    CHECK(health.state == KeyState::not_yet_valid);
    CHECK_THAT(health.reason, Contains("not valid before 2026-03-01T13:00:00Z"));
    const KeysError early = thrown<KeysError>([&] { f.vault->wrap("app-key", std::nullopt, dek); });
    CHECK(early.code() == KeysErrc::key_unusable);
    CHECK(early.state() == KeyState::not_yet_valid);

    f.clock.advance(1h);
    CHECK(f.vault->health(ref("app-key", 1)).usable());
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, dek);

    f.clock.advance(1h);  // exactly at the expiry time
    health = f.vault->health(ref("app-key", 1));
    CHECK(health.state == KeyState::expired);
    CHECK_THAT(health.reason, Contains("expired at 2026-03-01T14:00:00Z"));
    const KeysError late = thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, wrapped.blob); });
    CHECK(late.code() == KeysErrc::key_unusable);
    CHECK(late.state() == KeyState::expired);

    f.vault->set_validity("app-key", std::nullopt, f.clock.now() + day);
    CHECK(f.vault->unwrap(wrapped.kek, wrapped.blob).equals(dek));
    f.vault->set_validity("app-key", std::nullopt, f.clock.now() - 1s);
    CHECK(f.vault->health(ref("app-key", 1)).state == KeyState::expired);
    f.vault->set_validity("app-key", std::nullopt, std::nullopt);
    CHECK(f.vault->health(ref("app-key", 1)).usable());
}

TEST_CASE("health reports deleted before disabled before a validity problem", "[vault]") {
    Fixture f;
    CreateKeyOptions early = aes;
    early.not_before = f.clock.now() + 1h;
    f.vault->create_key("early", early);
    CreateKeyOptions expiring = aes;
    expiring.expires = f.clock.now() + 1h;
    f.vault->create_key("expiring", expiring);
    f.clock.advance(2h);
    early.not_before = f.clock.now() + 1h;
    f.vault->set_validity("early", early.not_before, std::nullopt);

    CHECK(f.vault->health(ref("early", 1)).state == KeyState::not_yet_valid);
    CHECK(f.vault->health(ref("expiring", 1)).state == KeyState::expired);
    f.vault->set_enabled("early", false);
    f.vault->set_enabled("expiring", false);
    CHECK(f.vault->health(ref("early", 1)).state == KeyState::disabled);
    CHECK(f.vault->health(ref("expiring", 1)).state == KeyState::disabled);
    f.vault->soft_delete("early");
    CHECK(f.vault->health(ref("early", 1)).state == KeyState::deleted);
    CHECK(f.vault->health(ref("early", 2)).state == KeyState::not_found);
}

TEST_CASE("an expiry not after the not-before time is refused", "[vault][errors]") {
    Fixture f;
    const TimePoint now = f.clock.now();
    CreateKeyOptions options = aes;
    options.not_before = now + 2h;
    options.expires = GENERATE_COPY(now + 1h, now + 2h);
    const KeysError create_error =
        thrown<KeysError>([&] { f.vault->create_key("app-key", options); });
    CHECK(create_error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(message(create_error), Contains("must be after not-before 2026-03-01T14:00:00Z"));
    CHECK(thrown<KeysError>([&] { f.vault->describe_key("app-key"); }).code() ==
          KeysErrc::not_found);

    f.vault->create_key("app-key", aes);
    const KeysError set_error = thrown<KeysError>(
        [&] { f.vault->set_validity("app-key", options.not_before, options.expires); });
    CHECK(set_error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(message(set_error), Contains("must be after not-before"));
    CHECK_FALSE(f.vault->describe_key("app-key").expires);
}

TEST_CASE("a soft-deleted key is unusable until recovered", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    f.vault->create_key("other", aes);
    const auto dek = random_dek();
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, dek);

    f.clock.advance(1h);
    const KeyInfo deleted = f.vault->soft_delete("app-key");
    CHECK(deleted.deleted == f.clock.now());
    const KeyHealth health = f.vault->health(wrapped.kek);
    CHECK(health.state == KeyState::deleted);
    CHECK_THAT(health.reason, Contains("deleted at 2026-03-01T13:00:00Z"));
    const KeysError unwrap_error =
        thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, wrapped.blob); });
    CHECK(unwrap_error.code() == KeysErrc::key_unusable);
    CHECK(unwrap_error.state() == KeyState::deleted);
    CHECK(thrown<KeysError>([&] { f.vault->wrap("app-key", 1, dek); }).state() ==
          KeyState::deleted);

    CHECK(f.vault->describe_key("app-key").deleted == f.clock.now());
    CHECK(f.vault->list_keys(false).size() == 1);
    CHECK(f.vault->list_keys(true).size() == 2);

    SECTION("changes to a deleted key are refused") {
        for (const KeysError& error :
             {thrown<KeysError>([&] { f.vault->soft_delete("app-key"); }),
              thrown<KeysError>([&] { f.vault->rotate_key("app-key"); }),
              thrown<KeysError>([&] { f.vault->set_enabled("app-key", false); }),
              thrown<KeysError>([&] { f.vault->set_validity("app-key", std::nullopt, {}); })}) {
            CHECK(error.code() == KeysErrc::key_unusable);
            CHECK(error.state() == KeyState::deleted);
            CHECK_THAT(message(error), Contains("recover it first"));
        }
        const KeysError create_error =
            thrown<KeysError>([&] { f.vault->create_key("app-key", aes); });
        CHECK(create_error.code() == KeysErrc::already_exists);
        CHECK_THAT(message(create_error), Contains("until it is purged"));
    }
    SECTION("recovering restores it") {
        CHECK_FALSE(f.vault->recover("app-key").deleted);
        CHECK(f.vault->health(wrapped.kek).usable());
        CHECK(f.vault->unwrap(wrapped.kek, wrapped.blob).equals(dek));
        const KeysError again = thrown<KeysError>([&] { f.vault->recover("app-key"); });
        CHECK(again.code() == KeysErrc::invalid_argument);
        CHECK_THAT(message(again), Contains("is not deleted"));
    }
}

TEST_CASE("purge protection holds a deleted key for its retention period", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    const auto dek = random_dek();
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, dek);

    const KeysError not_deleted = thrown<KeysError>([&] { f.vault->purge("app-key"); });
    CHECK(not_deleted.code() == KeysErrc::refused);
    CHECK_THAT(message(not_deleted), Contains("soft-delete it first"));

    f.vault->soft_delete("app-key");
    const KeysError protected_error = thrown<KeysError>([&] { f.vault->purge("app-key"); });
    CHECK(protected_error.code() == KeysErrc::refused);
    CHECK_THAT(message(protected_error), Contains("purge-protected"));
    CHECK_THAT(message(protected_error), Contains("can be purged from 2026-05-30T12:00:00Z"));

    f.clock.advance(90 * day - 1s);
    CHECK(thrown<KeysError>([&] { f.vault->purge("app-key"); }).code() == KeysErrc::refused);
    f.clock.advance(1s);
    f.vault->purge("app-key");
    CHECK_FALSE(fs::exists(f.directory / "keys" / "app-key.json"));

    CHECK(f.vault->health(wrapped.kek).state == KeyState::not_found);
    CHECK(thrown<KeysError>([&] { f.vault->describe_key("app-key"); }).code() ==
          KeysErrc::not_found);
    CHECK(f.vault->list_keys(true).empty());
    CHECK(thrown<KeysError>([&] { f.vault->purge("app-key"); }).code() == KeysErrc::not_found);

    // The name is free again, for a new key that does not open the old blobs.
    f.vault->create_key("app-key", aes);
    const KeysError stale = thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, wrapped.blob); });
    CHECK(stale.code() == KeysErrc::unwrap_failed);
}

TEST_CASE("without purge protection a deleted key can be purged at once", "[vault]") {
    Fixture f;
    CreateKeyOptions options = aes;
    options.purge_protection = false;
    options.retention_days = 7;
    f.vault->create_key("app-key", options);
    f.vault->soft_delete("app-key");
    f.vault->purge("app-key");
    CHECK(f.vault->health(ref("app-key", 1)).state == KeyState::not_found);
}

TEST_CASE("invalid vault and key names are refused", "[vault][errors]") {
    Fixture f;
    const std::string name =
        GENERATE(std::string(""), std::string(".hidden"), std::string("-x"), std::string("a/b"),
                 std::string("../escape"), std::string("sp ace"), std::string(64, 'k'));
    const KeysError create_error = thrown<KeysError>([&] { f.vault->create_key(name, aes); });
    CHECK(create_error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(message(create_error), Contains("invalid key name"));
    CHECK(thrown<KeysError>([&] { f.vault->describe_key(name); }).code() ==
          KeysErrc::invalid_argument);
    CHECK(f.vault->health(ref(name, 1)).state == KeyState::not_found);

    TempDir other;
    const KeysError open_error =
        thrown<KeysError>([&] { LocalVault::open(other.path() / "v", name, "alice"); });
    CHECK(open_error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(message(open_error), Contains("invalid vault name"));
}

TEST_CASE("a 63-character key name is accepted", "[vault]") {
    Fixture f;
    const std::string name(63, 'k');
    CHECK(f.vault->create_key(name, aes).name == name);
}

TEST_CASE("creating a key that exists is refused", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    const KeysError error = thrown<KeysError>([&] { f.vault->create_key("app-key", aes); });
    CHECK(error.code() == KeysErrc::already_exists);
    CHECK_THAT(message(error), Contains("key app-key in vault local already exists"));
    CHECK(f.vault->latest_version("app-key") == 1);
}

TEST_CASE("key types parse from their names and other names are refused", "[vault][errors]") {
    for (const KeyType type :
         {KeyType::rsa2048, KeyType::rsa3072, KeyType::rsa4096, KeyType::aes256}) {
        CHECK(parse_key_type(to_string(type)) == type);
    }
    const KeysError error = thrown<KeysError>([] { parse_key_type("rsa-1024"); });
    CHECK(error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(message(error), Contains("unknown key type 'rsa-1024'"));
}

TEST_CASE("retention must be 7 to 90 days", "[vault][errors]") {
    Fixture f;
    CreateKeyOptions options = aes;
    options.retention_days = GENERATE(0u, 6u, 91u, 365u);
    const KeysError error = thrown<KeysError>([&] { f.vault->create_key("app-key", options); });
    CHECK(error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(message(error),
               Contains(fmt::format("retention of {} days", options.retention_days)));
    CHECK_THAT(message(error), Contains("use 7 to 90 days"));

    options.retention_days = GENERATE(7u, 90u);
    CHECK(f.vault->create_key("app-key", options).retention_days == options.retention_days);
}

TEST_CASE("a tampered or foreign blob does not unwrap", "[vault][errors]") {
    Fixture f;
    const CreateKeyOptions options = GENERATE(aes, rsa);
    f.vault->create_key("app-key", options);
    f.vault->create_key("other-key", options);
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, random_dek());

    auto tampered = wrapped.blob;
    tampered[tampered.size() / 2] ^= std::byte{0x01};
    const KeysError tamper_error =
        thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, tampered); });
    CHECK(tamper_error.code() == KeysErrc::unwrap_failed);
    CHECK_THAT(message(tamper_error), Contains("vault:local/app-key@1"));

    const std::vector<std::byte> truncated(wrapped.blob.begin(), wrapped.blob.end() - 8);
    CHECK(thrown<KeysError>([&] { f.vault->unwrap(wrapped.kek, truncated); }).code() ==
          KeysErrc::unwrap_failed);

    const KeysError foreign_error =
        thrown<KeysError>([&] { f.vault->unwrap(ref("other-key", 1), wrapped.blob); });
    CHECK(foreign_error.code() == KeysErrc::unwrap_failed);
    CHECK_THAT(message(foreign_error), Contains("vault:local/other-key@1"));
}

TEST_CASE("unknown keys and versions and foreign providers are not found", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    const WrappedKey wrapped = f.vault->wrap("app-key", std::nullopt, random_dek());

    const KeyRef elsewhere{"vault:other", "app-key", 1};
    const KeyHealth foreign = f.vault->health(elsewhere);
    CHECK(foreign.state == KeyState::not_found);
    CHECK_THAT(foreign.reason, Contains("belongs to provider vault:other"));
    const KeysError foreign_error =
        thrown<KeysError>([&] { f.vault->unwrap(elsewhere, wrapped.blob); });
    CHECK(foreign_error.code() == KeysErrc::not_found);
    CHECK(thrown<KeysError>([&] {
              f.vault->unwrap({"platform", "app-key", 1}, wrapped.blob);
          }).code() == KeysErrc::not_found);

    const KeyHealth no_version = f.vault->health(ref("app-key", 2));
    CHECK(no_version.state == KeyState::not_found);
    CHECK_THAT(no_version.reason, Contains("has no version 2"));
    CHECK(f.vault->health(ref("app-key", 0)).state == KeyState::not_found);
    const KeysError version_error =
        thrown<KeysError>([&] { f.vault->wrap("app-key", 2, random_dek()); });
    CHECK(version_error.code() == KeysErrc::not_found);
    CHECK(version_error.state() == KeyState::not_found);

    const KeyHealth no_key = f.vault->health(ref("nope", 1));
    CHECK(no_key.state == KeyState::not_found);
    CHECK_THAT(no_key.reason, Contains("no key nope in vault local"));
    for (const KeysError& error :
         {thrown<KeysError>([&] { f.vault->wrap("nope", std::nullopt, random_dek()); }),
          thrown<KeysError>([&] { f.vault->unwrap(ref("nope", 1), wrapped.blob); }),
          thrown<KeysError>([&] { f.vault->latest_version("nope"); }),
          thrown<KeysError>([&] { f.vault->describe_key("nope"); }),
          thrown<KeysError>([&] { f.vault->rotate_key("nope"); }),
          thrown<KeysError>([&] { f.vault->soft_delete("nope"); })}) {
        CHECK(error.code() == KeysErrc::not_found);
        CHECK_THAT(message(error), Contains("no key nope in vault local"));
    }
}

TEST_CASE("an empty DEK is refused", "[vault][errors]") {
    Fixture f;
    f.vault->create_key("app-key", aes);
    const KeysError error = thrown<KeysError>(
        [&] { f.vault->wrap("app-key", std::nullopt, std::span<const std::byte>()); });
    CHECK(error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(message(error), Contains("cannot wrap a 0-byte key"));
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
