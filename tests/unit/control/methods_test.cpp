#include "control/methods.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "control/control_error.hpp"
#include "control/exit_codes.hpp"
#include "disk/disk_catalog.hpp"
#include "disk/disk_header.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::control;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using hostcrypt::test::TempDir;
using hostcrypt::test::thrown;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t mib = 1024 * 1024;

// A daemon that records what the methods tell it.
class FakeDaemon : public LiveDaemon {
  public:
    std::vector<std::string> calls;
    std::string serve_problem;   // what disk_created answers
    bool refuse_delete = false;  // disk_deleting throws
    json live{{"daemon", {{"running", true}, {"pid", 4242}}}, {"disks", json::object()}};

    std::string disk_created(const hostcrypt::disk::CatalogEntry& entry) override {
        calls.push_back("disk_created " + entry.name);
        return serve_problem;
    }
    void disk_deleting(const std::string& name) override {
        calls.push_back("disk_deleting " + name);
        if (refuse_delete) {
            throw ControlError(exit_refused, "refused", "disk " + name + " has clients");
        }
    }
    void keys_changed() override { calls.push_back("keys_changed"); }
    json live_status() override {
        calls.push_back("live_status");
        return live;
    }
    json configure_monitor(Params& params) override {
        calls.push_back("configure_monitor");
        return {{"grace", params.string_or("grace", "1h")}};
    }
};

// A fresh, locked state directory and the calls made against it.
struct MethodsTest {
    TempDir temp;
    fs::path state_path = temp / "state";
    StateDirectory state{state_path, "test-actor"};
    CallContext call{state, nullptr, {}};

    json run(std::string_view name, const json& params = nullptr) {
        INFO(name << " " << params);
        const Method* method = find_method(name);
        REQUIRE(method != nullptr);
        return invoke(*method, call, params);
    }

    // A call that must fail: its class (as the daemon would answer it) and message.
    std::pair<ErrorClass, std::string> failure(std::string_view name,
                                               const json& params = nullptr) {
        try {
            run(name, params);
        } catch (const std::exception& error) {
            return {classify(error), error.what()};
        }
        FAIL("expected " << name << " " << params << " to fail");
        return {};
    }

    void check_failure(std::string_view name, const json& params, int code, const std::string& kind,
                       const std::string& message_part) {
        const auto [error_class, message] = failure(name, params);
        INFO(message);
        CHECK(error_class.code == code);
        CHECK(error_class.kind == kind);
        CHECK_THAT(message, Contains(message_part));
    }

    fs::path backing(const std::string& disk) const {
        return state_path / "disks" / (disk + ".img");
    }

    void add_platform_set(const std::string& name = "plat") {
        run("set.create", {{"name", name}, {"type", "platform"}});
    }
    void add_vault_key(const std::string& name = "k1") {
        run("vault.key.create", {{"name", name}, {"type", "aes-256"}});
    }
    void add_customer_set(const std::string& name = "cust", const std::string& key = "k1") {
        run("set.create", {{"name", name}, {"type", "customer"}, {"key", key}});
    }
    json add_disk(const std::string& name, const std::string& set = "plat",
                  std::uint64_t size = mib) {
        return run("disk.create", {{"name", name}, {"set", set}, {"size", size}});
    }

    std::vector<std::string> disk_names() {
        std::vector<std::string> names;
        for (const json& disk : run("disk.list")) {
            names.push_back(disk.at("name").get<std::string>());
        }
        return names;
    }
};

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("the method table holds every method once", "[methods]") {
    Names names;
    for (const Method& method : methods()) {
        names.emplace_back(method.name);
    }
    CHECK(names ==
          Names{"vault.key.create",  "vault.key.list",   "vault.key.show",   "vault.key.rotate",
                "vault.key.disable", "vault.key.enable", "vault.key.expire", "vault.key.delete",
                "vault.key.recover", "vault.key.purge",  "set.create",       "set.list",
                "set.show",          "set.rotate",       "set.delete",       "disk.create",
                "disk.list",         "disk.show",        "disk.delete",      "disk.check",
                "platform.show",     "platform.rotate",  "status",           "monitor.configure"});
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

TEST_CASE_METHOD(MethodsTest, "a disk is created and listed and shown and checked and deleted",
                 "[methods][disks]") {
    add_platform_set();
    const json created = add_disk("d1");
    CHECK(created.at("name") == "d1");
    CHECK(created.at("path") == backing("d1").string());
    CHECK(created.at("set") == "plat");
    CHECK(created.at("type") == "platform");
    CHECK(created.at("size") == mib);
    CHECK(created.at("sector_size") == 4096);
    CHECK(created.at("data_offset") == hostcrypt::disk::default_data_offset);
    CHECK(created.at("rotated").is_null());
    CHECK(created.at("header_sequence") == 1);
    CHECK(created.at("uuid").is_string());
    CHECK_FALSE(created.contains("served"));  // offline
    REQUIRE(created.at("layers").size() == 1);
    CHECK(created.at("layers")[0].at("layer") == "only");
    CHECK(created.at("layers")[0].at("cipher") == "aes-256-xts-plain64");
    CHECK(created.at("layers")[0].at("kek").at("provider") == "platform");
    CHECK(fs::file_size(backing("d1")) == mib + hostcrypt::disk::default_data_offset);

    CHECK(run("disk.list") == json::array({created}));

    json shown = run("disk.show", {{"name", "d1"}});
    CHECK(shown.at("health") ==
          json{{"usable", true}, {"layers", {{{"state", "usable"}, {"reason", ""}}}}});
    shown.erase("health");
    CHECK(shown == created);

    const json checked = run("disk.check", {{"name", "d1"}});
    CHECK(checked.at("disk") == "d1");
    CHECK(checked.at("ok") == true);
    CHECK(checked.at("problems") == json::array());
    REQUIRE(checked.at("header_copies").size() == 2);

    CHECK(run("disk.delete", {{"name", "d1"}}) ==
          json{{"name", "d1"}, {"deleted", true}, {"backing_kept", false}});
    CHECK_FALSE(fs::exists(backing("d1")));
    CHECK(disk_names().empty());
    check_failure("disk.show", {{"name", "d1"}}, exit_not_found, "not-found", "d1");
}

TEST_CASE_METHOD(MethodsTest, "disk.create reads sector size and a backing path",
                 "[methods][disks]") {
    add_platform_set();
    const fs::path path = temp / "elsewhere.img";
    const json created = run("disk.create", {{"name", "d2"},
                                             {"set", "plat"},
                                             {"size", 64 * 1024U},
                                             {"sector_size", 512U},
                                             {"path", path.string()}});
    CHECK(created.at("sector_size") == 512);
    CHECK(created.at("size") == 64 * 1024U);
    CHECK(created.at("path") == path.string());
    CHECK(fs::exists(path));
    CHECK_FALSE(fs::exists(backing("d2")));
}

TEST_CASE_METHOD(MethodsTest, "a preallocated disk reports its progress", "[methods][disks]") {
    add_platform_set();
    std::vector<std::pair<std::uint64_t, std::uint64_t>> reports;
    call.progress = [&](std::uint64_t done, std::uint64_t total) {
        reports.emplace_back(done, total);
    };
    run("disk.create",
        {{"name", "d1"}, {"set", "plat"}, {"size", 2 * mib + 4096}, {"preallocate", true}});
    CHECK(reports ==
          std::vector<std::pair<std::uint64_t, std::uint64_t>>{
              {mib, 2 * mib + 4096}, {2 * mib, 2 * mib + 4096}, {2 * mib + 4096, 2 * mib + 4096}});
}

TEST_CASE_METHOD(MethodsTest, "a deleted disk's backing file can be kept", "[methods][disks]") {
    add_platform_set();
    add_disk("d1");
    CHECK(run("disk.delete", {{"name", "d1"}, {"keep_backing", true}}) ==
          json{{"name", "d1"}, {"deleted", true}, {"backing_kept", true}});
    CHECK(fs::exists(backing("d1")));
    CHECK(disk_names().empty());
}

TEST_CASE_METHOD(MethodsTest, "disk errors carry their class", "[methods][disks][errors]") {
    add_platform_set();
    check_failure("disk.create", {{"name", "d1"}, {"set", "nope"}, {"size", mib}}, exit_not_found,
                  "not-found", "nope");
    check_failure("disk.create", {{"name", "d1"}, {"set", "plat"}}, exit_usage, "invalid-argument",
                  "parameter 'size' is required");
    check_failure("disk.create", {{"name", "d1"}, {"set", "plat"}, {"size", "1G"}}, exit_usage,
                  "invalid-argument", "parameter 'size' must be a non-negative whole number");
    check_failure("disk.create", {{"name", "d1"}, {"set", "plat"}, {"size", 1000U}}, exit_usage,
                  "invalid-argument", "size 1000 must be a positive multiple");
    check_failure("disk.create",
                  {{"name", "d1"}, {"set", "plat"}, {"size", mib}, {"sector_size", 1024U}},
                  exit_usage, "invalid-argument", "sector size 1024 is not supported");
    CHECK(disk_names().empty());

    add_disk("d1");
    check_failure("disk.create", {{"name", "d1"}, {"set", "plat"}, {"size", mib}}, exit_exists,
                  "already-exists", "disk d1 already exists");
    check_failure("disk.show", {{"name", "d9"}}, exit_not_found, "not-found", "d9");
    check_failure("disk.delete", {{"name", "d9"}}, exit_not_found, "not-found", "d9");
    check_failure("disk.check", {{"name", "d9"}}, exit_not_found, "not-found", "d9");
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

TEST_CASE_METHOD(MethodsTest, "a disabled key shows in a disk's health and blocks new disks",
                 "[methods][disks][keys]") {
    add_vault_key();
    add_customer_set();
    const json created = add_disk("d1", "cust");
    CHECK(created.at("type") == "customer");
    CHECK(created.at("layers")[0].at("kek") ==
          json{{"provider", "vault:local"}, {"name", "k1"}, {"version", 1}});

    run("vault.key.disable", {{"name", "k1"}});
    const json health = run("disk.show", {{"name", "d1"}}).at("health");
    CHECK(health.at("usable") == false);
    CHECK(health.at("layers") ==
          json::array({{{"state", "disabled"},
                        {"reason",
                         "key k1 in vault local was disabled; enable it to use it "
                         "again"}}}));

    check_failure("disk.create", {{"name", "d2"}, {"set", "cust"}, {"size", mib}},
                  exit_key_unusable, "key-unusable", "k1");
    CHECK_FALSE(fs::exists(backing("d2")));
    CHECK(disk_names() == Names{"d1"});

    run("vault.key.enable", {{"name", "k1"}});
    CHECK(run("disk.show", {{"name", "d1"}}).at("health").at("usable") == true);
}

TEST_CASE_METHOD(MethodsTest, "status offline lists every disk with its health",
                 "[methods][status]") {
    CHECK(run("status") == json{{"daemon", {{"running", false}}}, {"disks", json::array()}});

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
    CHECK(daemon.calls == Names{"disk_created d1", "disk_deleting d1", "disk_deleting d1"});
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
    daemon.live["disks"]["a"] = {{"key_status", "grace"}, {"connections", 2}};
    const json status = run("status");
    CHECK(status.at("daemon") == json{{"running", true}, {"pid", 4242}});
    const json& disks = status.at("disks");
    REQUIRE(disks.size() == 2);
    CHECK(disks[0].at("served") == true);
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

TEST_CASE_METHOD(MethodsTest, "a disk created at a given path that fails leaves no file",
                 "[methods][disks][errors]") {
    add_platform_set();
    const fs::path path = temp / "bad.img";
    check_failure("disk.create",
                  {{"name", "bad name"}, {"set", "plat"}, {"size", mib}, {"path", path.string()}},
                  exit_usage, "invalid-argument", "bad name");
    CHECK_FALSE(fs::exists(path));
    CHECK(disk_names().empty());
}

TEST_CASE_METHOD(MethodsTest, "disk.create does not overwrite an existing file",
                 "[methods][disks][errors]") {
    add_platform_set();
    const fs::path path = temp / "precious.img";
    std::ofstream(path) << "precious data";
    check_failure("disk.create",
                  {{"name", "d1"}, {"set", "plat"}, {"size", mib}, {"path", path.string()}},
                  exit_exists, "already-exists", "refusing to overwrite it");
    CHECK(hostcrypt::read_text_file(path) == "precious data");
    CHECK(disk_names().empty());
}

TEST_CASE_METHOD(MethodsTest, "disk.check reports a damaged header copy", "[methods][disks]") {
    add_platform_set();
    add_disk("d1");
    {
        // Spoil the first header copy; the second still opens the disk.
        std::fstream file(backing("d1"), std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(100);
        file.write("garbage!", 8);
    }
    const json checked = run("disk.check", {{"name", "d1"}});
    CHECK(checked.at("ok") == false);
    REQUIRE(checked.at("header_copies").size() == 2);
    CHECK(checked.at("header_copies")[0].at("valid") == false);
    CHECK(checked.at("header_copies")[1].at("valid") == true);
    REQUIRE(checked.at("problems").size() == 1);
    CHECK_THAT(checked.at("problems")[0].get<std::string>(), StartsWith("header copy damaged: "));
    // The disk itself is still readable.
    CHECK(run("disk.show", {{"name", "d1"}}).at("health").at("usable") == true);
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
