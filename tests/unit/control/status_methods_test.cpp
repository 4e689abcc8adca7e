// status offline, and what methods tell a running daemon (a fake one).

#include <filesystem>
#include <vector>

#include <catch2/catch.hpp>

#include "methods_fixture.hpp"

using namespace hostcrypt::control;
using namespace hostcrypt::control::testing;

TEST_CASE_METHOD(MethodsTest, "status offline lists every disk with its health",
                 "[methods][status]") {
    CHECK(run("status") == json{{"daemon", {{"running", false}}},
                                {"disks", json::array()},
                                {"temp_disks", json::array()}});

    add_platform_set();
    add_vault_key();
    add_customer_set();
    add_disk("a", "plat");
    add_disk("b", "cust");
    run("vault.key.disable", {{"name", "k1"}});

    const json status = run("status");
    CHECK(status.at("daemon") == json{{"running", false}});
    const json& disks = status.at("disks");
    REQUIRE(disks.size() == 2);
    CHECK(disks[0].at("name") == "a");
    CHECK(disks[0].at("health").at("usable") == true);
    CHECK(disks[1].at("name") == "b");
    CHECK(disks[1].at("health").at("usable") == false);
    CHECK(disks[1].at("health").at("layers")[0].at("state") == "disabled");
    for (const json& disk : disks) {
        CHECK_FALSE(disk.contains("served"));
        CHECK_FALSE(disk.contains("error"));
    }
}

TEST_CASE_METHOD(MethodsTest, "status reports a disk whose header cannot be read",
                 "[methods][status]") {
    add_platform_set();
    add_disk("a");
    add_disk("b");
    fs::remove(backing("a"));
    const json disks = run("status").at("disks");
    REQUIRE(disks.size() == 2);
    CHECK(disks[0].at("name") == "a");
    CHECK(disks[0].at("set") == "plat");
    CHECK(disks[0].at("path") == backing("a").string());
    CHECK(disks[0].at("error").is_string());
    CHECK_FALSE(disks[0].contains("health"));
    CHECK(disks[1].at("name") == "b");
    CHECK(disks[1].at("health").at("usable") == true);
    // disk.list reports it the same way instead of failing.
    const json listed = run("disk.list");
    REQUIRE(listed.size() == 2);
    CHECK(listed[0].at("error") == disks[0].at("error"));
}

TEST_CASE_METHOD(MethodsTest, "with a daemon a created disk is served at once",
                 "[methods][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    add_platform_set();
    const json served = add_disk("d1");
    CHECK(served.at("served") == true);
    CHECK_FALSE(served.contains("not_served_because"));

    daemon.serve_problem = "no free reactor";
    const json unserved = add_disk("d2");
    CHECK(unserved.at("served") == false);
    CHECK(unserved.at("not_served_because") == "no free reactor");
    // The disk stays in the catalog.
    CHECK(disk_names() == Names{"d1", "d2"});
    CHECK(daemon.calls == Names{"disk_created d1", "disk_created d2"});
}

TEST_CASE_METHOD(MethodsTest, "with a daemon a disk in use is not deleted", "[methods][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    add_platform_set();
    add_disk("d1");
    daemon.refuse_delete = true;
    check_failure("disk.delete", {{"name", "d1"}}, exit_refused, "refused", "disk d1 has clients");
    CHECK(disk_names() == Names{"d1"});
    CHECK(fs::exists(backing("d1")));
    CHECK(run("disk.check", {{"name", "d1"}}).at("ok") == true);  // header untouched

    daemon.refuse_delete = false;
    run("disk.delete", {{"name", "d1"}});
    CHECK(daemon.calls ==
          Names{"disk_created d1", "disk_deleting d1", "disk_deleting d1", "serving_changed"});
    CHECK(disk_names().empty());
}

TEST_CASE_METHOD(MethodsTest, "with a daemon key changes are announced", "[methods][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    add_vault_key();
    CHECK(daemon.calls.empty());  // a new key changes no disk
    run("vault.key.show", {{"name", "k1"}});
    CHECK(daemon.calls.empty());
    run("vault.key.disable", {{"name", "k1"}});
    CHECK(daemon.calls == Names{"keys_changed"});
    run("vault.key.enable", {{"name", "k1"}});
    CHECK(daemon.calls == Names{"keys_changed", "keys_changed"});
    // A refused change announces nothing.
    failure("vault.key.disable", {{"name", "k1"}, {"bogus", 1}});
    CHECK(daemon.calls.size() == 2);
}

TEST_CASE_METHOD(MethodsTest, "with a daemon status merges what only the daemon knows",
                 "[methods][daemon][status]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    add_platform_set();
    add_disk("a");
    add_disk("b");
    daemon.live["disks"]["a"] = {{"disk", "a"}, {"key_status", "grace"}, {"connections", 2}};
    const json status = run("status");
    CHECK(status.at("daemon") == json{{"running", true}, {"pid", 4242}});
    const json& disks = status.at("disks");
    REQUIRE(disks.size() == 2);
    CHECK(disks[0].at("served") == true);
    CHECK(disks[0].at("export") == "a");
    CHECK(disks[0].at("key_status") == "grace");
    CHECK(disks[0].at("connections") == 2);
    CHECK(disks[0].at("health").at("usable") == true);
    CHECK(disks[1].at("served") == false);
    CHECK_FALSE(disks[1].contains("key_status"));
}

TEST_CASE_METHOD(MethodsTest, "with a daemon monitor.configure reaches it", "[methods][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    CHECK(run("monitor.configure", {{"grace", "10s"}}) == json{{"grace", "10s"}});
    CHECK(daemon.calls == Names{"configure_monitor"});
    // invoke checks for unknown params after the handler too.
    check_failure("monitor.configure", {{"grase", "10s"}}, exit_usage, "invalid-argument",
                  "unknown parameter 'grase'");
}
