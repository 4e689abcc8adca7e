// LocalVault's keys: wrapping and unwrapping DEKs with each key type,
// rotation, what survives reopening the vault, the key file's format, and
// blobs, keys and versions that do not unwrap.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "common/utc_time.hpp"
#include "keys/keys_error.hpp"
#include "keys/local_vault.hpp"
#include "keys/local_vault_fixture.hpp"
#include "support/thrown.hpp"

using hostcrypt::test::thrown;
using namespace hostcrypt;
using namespace hostcrypt::keys;
using namespace hostcrypt::keys::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

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
