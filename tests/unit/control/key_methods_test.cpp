// vault.key.* and platform.* against a state directory.

#include <catch2/catch.hpp>

#include "methods_fixture.hpp"

using namespace hostcrypt::control;
using namespace hostcrypt::control::testing;

TEST_CASE_METHOD(MethodsTest, "a vault key is created and its view is complete",
                 "[methods][keys]") {
    const json key = run("vault.key.create", {{"name", "k1"}, {"type", "aes-256"}});
    CHECK(key.at("vault") == "local");
    CHECK(key.at("name") == "k1");
    CHECK(key.at("type") == "aes-256");
    CHECK(key.at("enabled") == true);
    CHECK(key.at("not_before").is_null());
    CHECK(key.at("expires").is_null());
    CHECK(key.at("deleted").is_null());
    CHECK(key.at("retention_days") == 90);
    CHECK(key.at("purge_protection") == true);
    CHECK(key.at("latest_version") == 1);
    REQUIRE(key.at("versions").size() == 1);
    CHECK(key.at("versions")[0].at("version") == 1);

    CHECK(run("vault.key.list") == json::array({key}));
    CHECK(run("vault.key.show", {{"name", "k1"}}) == key);
    CHECK(run("vault.key.show", {{"name", "k1"}, {"vault", "local"}}) == key);
}

TEST_CASE_METHOD(MethodsTest, "vault.key.create reads every option", "[methods][keys]") {
    const json key = run("vault.key.create", {{"name", "k2"},
                                              {"type", "aes-256"},
                                              {"retention_days", 30U},
                                              {"purge_protection", false},
                                              {"not_before", "2026-01-01T00:00:00Z"},
                                              {"expires", "2099-12-31T23:59:00Z"}});
    CHECK(key.at("retention_days") == 30);
    CHECK(key.at("purge_protection") == false);
    CHECK(key.at("not_before") == "2026-01-01T00:00:00Z");
    CHECK(key.at("expires") == "2099-12-31T23:59:00Z");
}

TEST_CASE_METHOD(MethodsTest, "a key is disabled and enabled again", "[methods][keys]") {
    add_vault_key();
    const json disabled = run("vault.key.disable", {{"name", "k1"}});
    CHECK(disabled.at("name") == "k1");
    CHECK(disabled.at("enabled") == false);
    CHECK(run("vault.key.show", {{"name", "k1"}}).at("enabled") == false);
    CHECK(run("vault.key.enable", {{"name", "k1"}}).at("enabled") == true);
}

TEST_CASE_METHOD(MethodsTest, "a deleted key is listed only on request and can be recovered",
                 "[methods][keys]") {
    add_vault_key();
    const json deleted = run("vault.key.delete", {{"name", "k1"}});
    CHECK(deleted.at("deleted").is_string());
    CHECK(run("vault.key.list") == json::array());
    CHECK(run("vault.key.list", {{"include_deleted", true}}).size() == 1);
    // Purge protection holds while the retention lasts.
    check_failure("vault.key.purge", {{"name", "k1"}}, exit_refused, "refused", "k1");
    CHECK(run("vault.key.recover", {{"name", "k1"}}).at("deleted").is_null());
}

TEST_CASE_METHOD(MethodsTest, "key errors carry their class", "[methods][keys][errors]") {
    // No vault exists until a key is created in it.
    check_failure("vault.key.list", nullptr, exit_not_found, "not-found", "local");
    add_vault_key();
    check_failure("vault.key.show", {{"name", "nope"}}, exit_not_found, "not-found", "nope");
    check_failure("vault.key.disable", {{"name", "nope"}}, exit_not_found, "not-found", "nope");
    check_failure("vault.key.show", {{"name", "k1"}, {"vault", "other"}}, exit_not_found,
                  "not-found", "other");
    check_failure("vault.key.create", {{"name", "k1"}, {"type", "aes-256"}}, exit_exists,
                  "already-exists", "k1");
    check_failure("vault.key.create", {{"name", "k3"}, {"type", "des"}}, exit_usage,
                  "invalid-argument", "unknown key type 'des'");
    check_failure("vault.key.create", {{"name", "k3"}, {"expires", "soon"}}, exit_usage,
                  "invalid-argument", "parameter 'expires': 'soon' is not a UTC time");
    check_failure("vault.key.create", {{"name", "k3"}, {"retention_days", -1}}, exit_usage,
                  "invalid-argument", "parameter 'retention_days' must be a non-negative");
}

TEST_CASE_METHOD(MethodsTest, "an expired key shows in a disk's health", "[methods][keys]") {
    add_vault_key();
    add_customer_set();
    add_disk("d1", "cust");
    const json key = run("vault.key.expire", {{"name", "k1"}, {"expires", "2020-01-01T00:00:00Z"}});
    CHECK(key.at("expires") == "2020-01-01T00:00:00Z");
    CHECK(key.at("not_before").is_null());
    const json health = run("disk.show", {{"name", "d1"}}).at("health");
    CHECK(health.at("usable") == false);
    CHECK(health.at("layers")[0] ==
          json{{"state", "expired"},
               {"reason", "key k1 in vault local expired at 2020-01-01T00:00:00Z"}});
    // Clearing the expiry makes it usable again.
    CHECK(run("vault.key.expire", {{"name", "k1"}, {"expires", nullptr}}).at("expires").is_null());
    CHECK(run("disk.show", {{"name", "d1"}}).at("health").at("usable") == true);
}

TEST_CASE_METHOD(MethodsTest, "a key rotation re-wraps the disks that follow it",
                 "[methods][keys]") {
    add_vault_key();
    add_customer_set();
    add_disk("d1", "cust");
    const json rotated = run("vault.key.rotate", {{"name", "k1"}});
    CHECK(rotated.at("key").at("latest_version") == 2);
    REQUIRE(rotated.at("rewrapped").size() == 1);
    CHECK(rotated.at("rewrapped")[0].at("disk") == "d1");
    CHECK(rotated.at("rewrapped")[0].at("changed") == true);
    CHECK(run("disk.show", {{"name", "d1"}}).at("layers")[0].at("kek").at("version") == 2);
}

TEST_CASE_METHOD(MethodsTest, "the platform key is shown and rotated", "[methods][platform]") {
    add_platform_set();
    add_disk("d1");
    const json versions = run("platform.show");
    REQUIRE(versions.size() == 1);
    CHECK(versions[0].at("version") == 1);
    CHECK(versions[0].at("in_use") == true);

    const json young = run("platform.rotate", {{"if_older_than", "90d"}});
    CHECK(young.at("rotated") == false);
    CHECK(young.at("version") == 1);
    CHECK(young.at("if_older_than") == "90d");

    const json rotated = run("platform.rotate");
    CHECK(rotated.at("rotated") == true);
    CHECK(rotated.at("version") == 2);
    CHECK_FALSE(rotated.contains("if_older_than"));
    REQUIRE(rotated.at("rewrapped").size() == 1);
    CHECK(rotated.at("rewrapped")[0].at("disk") == "d1");
    CHECK(run("disk.show", {{"name", "d1"}}).at("layers")[0].at("kek").at("version") == 2);

    check_failure("platform.rotate", {{"if_older_than", "90"}}, exit_usage, "invalid-argument",
                  "if_older_than: \"90\" is not a duration: it has no unit");
}
