// The method table, roles, params, the state directory lock.

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "methods_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::control;
using namespace hostcrypt::control::testing;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using hostcrypt::test::TempDir;
using hostcrypt::test::thrown;

TEST_CASE("the method table holds every method once", "[methods]") {
    Names names;
    for (const Method& method : methods()) {
        names.emplace_back(method.name);
    }
    CHECK(names == Names{"vault.key.create", "vault.key.list",    "vault.key.show",
                         "vault.key.rotate", "vault.key.disable", "vault.key.enable",
                         "vault.key.expire", "vault.key.delete",  "vault.key.recover",
                         "vault.key.purge",  "set.create",        "set.list",
                         "set.show",         "set.rotate",        "set.delete",
                         "disk.create",      "disk.list",         "disk.show",
                         "disk.delete",      "disk.check",        "instance.create",
                         "instance.list",    "instance.show",     "instance.attach",
                         "instance.detach",  "instance.allocate", "instance.deallocate",
                         "instance.delete",  "platform.show",     "platform.rotate",
                         "status",           "monitor.configure"});
    CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
}

TEST_CASE("find_method finds every method of the table by its name", "[methods]") {
    for (const Method& method : methods()) {
        INFO(method.name);
        const Method* found = find_method(method.name);
        REQUIRE(found != nullptr);
        CHECK(found == &method);
        CHECK(found->handler != nullptr);
    }
    CHECK(find_method("disk.frobnicate") == nullptr);
    CHECK(find_method("") == nullptr);
    CHECK(find_method("Status") == nullptr);
    CHECK(find_method("disk") == nullptr);
}

TEST_CASE("each method needs the role its effect calls for", "[methods][roles]") {
    const auto role_of = [](std::string_view name) {
        const Method* method = find_method(name);
        REQUIRE(method != nullptr);
        return method->role;
    };
    CHECK(role_of("status") == Role::reader);
    CHECK(role_of("disk.list") == Role::reader);
    CHECK(role_of("disk.show") == Role::reader);
    CHECK(role_of("disk.check") == Role::reader);
    CHECK(role_of("set.list") == Role::reader);
    CHECK(role_of("vault.key.list") == Role::reader);
    CHECK(role_of("vault.key.show") == Role::reader);
    CHECK(role_of("platform.show") == Role::reader);
    CHECK(role_of("disk.create") == Role::disk_operator);
    CHECK(role_of("disk.delete") == Role::disk_operator);
    CHECK(role_of("set.create") == Role::disk_operator);
    CHECK(role_of("set.delete") == Role::disk_operator);
    CHECK(role_of("vault.key.disable") == Role::crypto_officer);
    CHECK(role_of("vault.key.create") == Role::crypto_officer);
    CHECK(role_of("vault.key.purge") == Role::crypto_officer);
    CHECK(role_of("set.rotate") == Role::crypto_officer);
    CHECK(role_of("platform.rotate") == Role::crypto_officer);
    CHECK(role_of("monitor.configure") == Role::crypto_officer);
    CHECK(role_of("instance.list") == Role::reader);
    CHECK(role_of("instance.show") == Role::reader);
    for (const char* change : {"instance.create", "instance.attach", "instance.detach",
                               "instance.allocate", "instance.deallocate", "instance.delete"}) {
        INFO(change);
        CHECK(role_of(change) == Role::disk_operator);
    }
}

TEST_CASE("only monitor.configure needs a running daemon", "[methods]") {
    for (const Method& method : methods()) {
        INFO(method.name);
        CHECK(method.needs_daemon == (method.name == "monitor.configure"));
    }
}

TEST_CASE("a state directory is locked by its owner", "[methods][state]") {
    TempDir temp;
    std::optional<StateDirectory> first(std::in_place, temp / "state", "first");
    CHECK(first->path() == temp / "state");
    CHECK(fs::is_directory(temp / "state"));
    const hostcrypt::Error error =
        thrown<hostcrypt::Error>([&] { StateDirectory second(temp / "state", "second"); });
    CHECK_THAT(error.what(),
               Contains((temp / "state").string() + " is in use by another hostcrypt process"));
    first.reset();
    CHECK_NOTHROW(StateDirectory(temp / "state", "second"));
}

TEST_CASE_METHOD(MethodsTest, "monitor.configure is refused offline", "[methods][daemon]") {
    check_failure("monitor.configure", {{"grace", "10s"}}, exit_unavailable, "daemon-not-running",
                  "monitor.configure needs a running hostcryptd");
    const auto [error_class, message] = failure("monitor.configure");
    CHECK(error_class.code == exit_unavailable);
    CHECK_THAT(message, Equals("monitor.configure needs a running hostcryptd"));
}

TEST_CASE_METHOD(MethodsTest, "params that are not an object are refused", "[methods][params]") {
    check_failure("status", json::array({1}), exit_usage, "invalid-argument",
                  "params must be an object");
    check_failure("disk.list", "x", exit_usage, "invalid-argument", "params must be an object");
}

TEST_CASE_METHOD(MethodsTest, "a method without params refuses any param", "[methods][params]") {
    check_failure("status", {{"verbose", true}}, exit_usage, "invalid-argument",
                  "unknown parameter 'verbose'");
    check_failure("set.list", {{"all", true}}, exit_usage, "invalid-argument",
                  "unknown parameter 'all'");
    check_failure("disk.list", {{"set", "plat"}}, exit_usage, "invalid-argument",
                  "unknown parameter 'set'");
}

TEST_CASE_METHOD(MethodsTest, "a misspelled parameter is refused before any side effect",
                 "[methods][params]") {
    add_platform_set();
    check_failure("disk.create",
                  {{"name", "d1"}, {"set", "plat"}, {"size", mib}, {"sector-size", 512U}},
                  exit_usage, "invalid-argument", "unknown parameter 'sector-size'");
    CHECK(disk_names().empty());
    CHECK_FALSE(fs::exists(backing("d1")));

    check_failure("set.create", {{"name", "s2"}, {"type", "platform"}, {"kye", "k"}}, exit_usage,
                  "invalid-argument", "unknown parameter 'kye'");
    CHECK(run("set.list").size() == 1);

    check_failure("vault.key.create", {{"name", "k1"}, {"type", "aes-256"}, {"purge", false}},
                  exit_usage, "invalid-argument", "unknown parameter 'purge'");
    // Not even the vault was created.
    check_failure("vault.key.list", nullptr, exit_not_found, "not-found", "local");

    add_vault_key();
    check_failure("vault.key.disable", {{"name", "k1"}, {"force", true}}, exit_usage,
                  "invalid-argument", "unknown parameter 'force'");
    CHECK(run("vault.key.show", {{"name", "k1"}}).at("enabled") == true);

    add_disk("d1");
    check_failure("disk.delete", {{"name", "d1"}, {"keep", true}}, exit_usage, "invalid-argument",
                  "unknown parameter 'keep'");
    CHECK(disk_names() == Names{"d1"});
    CHECK(fs::exists(backing("d1")));
}
