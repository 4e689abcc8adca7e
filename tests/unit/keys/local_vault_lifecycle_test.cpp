// A LocalVault key's lifecycle: disabling, not-before and expiry times, soft
// delete and recovery, purge protection and retention, and which key names
// and types are accepted.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <catch2/catch.hpp>
#include <fmt/format.h>

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
