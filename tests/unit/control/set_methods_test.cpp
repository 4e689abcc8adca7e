// set.create|list|show|delete against a state directory.

#include <string>

#include <catch2/catch.hpp>

#include "methods_fixture.hpp"

using namespace hostcrypt::control;
using namespace hostcrypt::control::testing;

TEST_CASE_METHOD(MethodsTest, "a platform set is created and listed and shown", "[methods][sets]") {
    const json created = run("set.create", {{"name", "plat"}, {"type", "platform"}});
    CHECK(created.at("name") == "plat");
    CHECK(created.at("type") == "platform");
    CHECK_FALSE(created.contains("vault"));
    CHECK_FALSE(created.contains("key"));
    CHECK_FALSE(created.contains("disks"));
    CHECK_NOTHROW(hostcrypt::parse_utc(created.at("created").get<std::string>()));

    json expected = created;
    expected["disks"] = json::array();
    CHECK(run("set.list") == json::array({expected}));
    CHECK(run("set.show", {{"name", "plat"}}) == expected);
}

TEST_CASE_METHOD(MethodsTest, "set errors carry their class", "[methods][sets][errors]") {
    check_failure("set.show", {{"name", "none"}}, exit_not_found, "not-found", "none");
    check_failure("set.show", json::object(), exit_usage, "invalid-argument",
                  "parameter 'name' is required");
    check_failure("set.create", {{"name", "s"}, {"type", "triple"}}, exit_usage, "invalid-argument",
                  "unknown encryption type 'triple': use platform, customer or double");
    check_failure("set.create", {{"name", "s"}, {"type", "customer"}}, exit_usage,
                  "invalid-argument",
                  "encryption set s of type customer needs a customer key: give a vault and a "
                  "key name");
    check_failure("set.create", {{"name", "bad/name"}, {"type", "platform"}}, exit_usage,
                  "invalid-argument", "bad/name");
    add_platform_set();
    check_failure("set.create", {{"name", "plat"}, {"type", "platform"}}, exit_exists,
                  "already-exists", "plat");
    check_failure("set.create", {{"name", "p2"}, {"type", "platform"}, {"key", "k1"}}, exit_usage,
                  "invalid-argument",
                  "encryption set p2 is of type platform and takes no customer key");
    check_failure("set.create", {{"name", "p2"}, {"type", "platform"}, {"vault", "local"}},
                  exit_usage, "invalid-argument",
                  "encryption set p2 is of type platform and takes no customer key");
    check_failure("set.delete", {{"name", "none"}}, exit_not_found, "not-found", "none");
}

TEST_CASE_METHOD(MethodsTest, "a customer set names its vault key and version", "[methods][sets]") {
    add_vault_key();
    const json latest = run("set.create", {{"name", "cust"}, {"type", "customer"}, {"key", "k1"}});
    CHECK(latest.at("type") == "customer");
    CHECK(latest.at("vault") == "local");
    CHECK(latest.at("key") == "k1");
    CHECK(latest.at("key_version") == "latest");
    const json pinned =
        run("set.create",
            {{"name", "pinned"}, {"type", "customer"}, {"key", "k1"}, {"key_version", "1"}});
    CHECK(pinned.at("key_version") == 1);
}

TEST_CASE_METHOD(MethodsTest, "a set naming a missing key or a bad version is not created",
                 "[methods][sets][errors]") {
    add_vault_key();
    check_failure("set.create", {{"name", "cust"}, {"type", "customer"}, {"key", "missing"}},
                  exit_not_found, "not-found", "missing");
    for (const char* version : {"0", "one", "1x", "-1", "4294967296", ""}) {
        INFO(version);
        check_failure(
            "set.create",
            {{"name", "cust"}, {"type", "customer"}, {"key", "k1"}, {"key_version", version}},
            exit_usage, "invalid-argument",
            std::string("key_version '") + version +
                "' is neither a version number (1, 2, ...) nor 'latest'");
    }
    CHECK(run("set.list") == json::array());
}

// A key version means nothing for a platform set: refused like a vault or key.

TEST_CASE_METHOD(MethodsTest, "a platform set refuses a key version", "[methods][sets]") {
    check_failure("set.create", {{"name", "p"}, {"type", "platform"}, {"key_version", "2"}},
                  exit_usage, "invalid-argument",
                  "encryption set p is of type platform and takes no customer key");
    check_failure("set.create", {{"name", "q"}, {"type", "platform"}, {"key_version", "zero"}},
                  exit_usage, "invalid-argument", "");
}

TEST_CASE_METHOD(MethodsTest, "a set with disks cannot be deleted", "[methods][sets]") {
    add_platform_set();
    add_disk("d2");
    add_disk("d1");
    check_failure("set.delete", {{"name", "plat"}}, exit_refused, "refused",
                  "encryption set plat still has disks (d1, d2); delete them first");
    CHECK(run("set.show", {{"name", "plat"}}).at("disks") == json{"d1", "d2"});
    run("disk.delete", {{"name", "d1"}});
    run("disk.delete", {{"name", "d2"}});
    CHECK(run("set.delete", {{"name", "plat"}}) == json{{"name", "plat"}, {"deleted", true}});
    CHECK(run("set.list") == json::array());
}
