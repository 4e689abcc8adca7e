// disk.create|list|show|check|delete against a state directory.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "disk/disk_header.hpp"
#include "methods_fixture.hpp"

using namespace hostcrypt::control;
using namespace hostcrypt::control::testing;
using Catch::Matchers::StartsWith;

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
