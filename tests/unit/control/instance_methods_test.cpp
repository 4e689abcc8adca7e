// instance.create|list|show|attach|detach|allocate|deallocate|delete against
// a state directory, offline and with a (fake) daemon that must be told
// which exports go away and when to serve the new plan.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "methods_fixture.hpp"

using namespace hostcrypt::control;
using namespace hostcrypt::control::testing;

namespace {

struct InstanceTest : MethodsTest {
    InstanceTest() {
        add_platform_set();
        add_disk("d1");
        add_disk("d2");
    }

    json create(const std::string& name, std::vector<std::string> disks = {},
                bool allocated = true) {
        return run(
            "instance.create",
            {{"name", name}, {"temp_size", 4 * mib}, {"disks", disks}, {"allocated", allocated}});
    }
};

const json& tier_of(const json& view, const std::string& tier, const std::string& disk = "") {
    for (const json& item : view.at("tiers")) {
        if (item.at("tier") == tier && (disk.empty() || item.value("disk", "") == disk)) {
            return item;
        }
    }
    FAIL("no " << tier << " tier " << disk << " in " << view);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE_METHOD(InstanceTest, "an instance is created with its disks and temp disk",
                 "[methods][instances]") {
    const json view = create("vm1", {"d1"});
    CHECK(view.at("name") == "vm1");
    CHECK(view.at("allocated") == true);
    CHECK(view.at("temp") == json{{"size", 4 * mib}, {"sector_size", 4096}});
    CHECK(view.at("disks") == json::array({"d1"}));
    CHECK_FALSE(view.contains("not_served"));

    const json& persisted = tier_of(view, "persisted", "d1");
    CHECK(persisted.at("export") == "vm1/d1");
    CHECK(persisted.at("type") == "platform");
    CHECK(persisted.at("served") == false);  // offline: no key in memory to name
    REQUIRE(persisted.at("layers").size() == 1);
    CHECK(persisted.at("layers")[0].at("wrapped_by").at("provider") == "platform");
    CHECK(persisted.at("layers")[0].at("dek_id").is_null());

    const json& temp_tier = tier_of(view, "temp");
    CHECK(temp_tier.at("export") == "vm1/temp");
    CHECK(temp_tier.at("served") == false);
    CHECK(temp_tier.at("note") == "made with a fresh key when hostcryptd serves the instance");

    CHECK(run("instance.show", {{"name", "vm1"}}) == view);
    const json list = run("instance.list");
    REQUIRE(list.size() == 1);
    CHECK(list[0].at("name") == "vm1");
    CHECK_FALSE(list[0].contains("tiers"));
}

TEST_CASE_METHOD(InstanceTest, "disks are attached and detached", "[methods][instances]") {
    create("vm1");
    json view = run("instance.attach", {{"instance", "vm1"}, {"disk", "d2"}});
    CHECK(view.at("disks") == json::array({"d2"}));
    view = run("instance.attach", {{"instance", "vm1"}, {"disk", "d1"}});
    CHECK(view.at("disks") == json::array({"d2", "d1"}));
    view = run("instance.detach", {{"instance", "vm1"}, {"disk", "d2"}});
    CHECK(view.at("disks") == json::array({"d1"}));
    CHECK(run("status").at("disks")[0].at("instance") == "vm1");
    CHECK(run("status").at("disks")[1].at("instance").is_null());
}

TEST_CASE_METHOD(InstanceTest, "deallocating and allocating say whether anything changed",
                 "[methods][instances]") {
    create("vm1", {"d1"});
    json view = run("instance.deallocate", {{"name", "vm1"}});
    CHECK(view.at("changed") == true);
    CHECK(view.at("allocated") == false);
    CHECK(tier_of(view, "temp").at("export").is_null());
    CHECK(tier_of(view, "temp").at("note") == "deallocated: the temp disk and its key are gone");
    CHECK(run("instance.deallocate", {{"name", "vm1"}}).at("changed") == false);
    view = run("instance.allocate", {{"name", "vm1"}});
    CHECK(view.at("changed") == true);
    CHECK(view.at("allocated") == true);
    CHECK(run("instance.allocate", {{"name", "vm1"}}).at("changed") == false);
}

TEST_CASE_METHOD(InstanceTest, "deleting an instance detaches its disks and keeps them",
                 "[methods][instances]") {
    create("vm1", {"d1", "d2"});
    const json result = run("instance.delete", {{"name", "vm1"}});
    CHECK(result == json{{"name", "vm1"}, {"deleted", true}, {"detached", {"d1", "d2"}}});
    CHECK(run("instance.list").empty());
    CHECK(disk_names() == Names{"d1", "d2"});
}

TEST_CASE_METHOD(InstanceTest, "instance requests that cannot be done are refused clearly",
                 "[methods][instances][errors]") {
    create("vm1", {"d1"});
    check_failure("instance.create", {{"name", "vm1"}, {"temp_size", mib}}, exit_exists,
                  "already-exists", "instance vm1 already exists");
    check_failure("instance.create", {{"name", "vm2"}, {"temp_size", mib}, {"disks", {"d1"}}},
                  exit_refused, "refused",
                  "disk d1 is attached to instance vm1; detach it there first");
    check_failure("instance.create", {{"name", "vm2"}, {"temp_size", mib}, {"disks", {"d9"}}},
                  exit_not_found, "not-found", "no disk named d9");
    check_failure("instance.create", {{"name", "vm2"}, {"temp_size", mib + 1}}, exit_usage,
                  "invalid-argument", "disk vm2/temp: size");
    check_failure("instance.create",
                  {{"name", "vm2"}, {"temp_size", mib}, {"temp_sector_size", 1000}}, exit_usage,
                  "invalid-argument", "sector size 1000 is not supported");
    check_failure("instance.create", {{"name", "a/b"}, {"temp_size", mib}}, exit_usage,
                  "invalid-argument", "invalid instance name");
    check_failure("instance.create", {{"name", "vm2"}, {"temp_size", mib}, {"disks", "d2"}},
                  exit_usage, "invalid-argument", "'disks' must be an array of strings");
    check_failure("instance.attach", {{"instance", "vm1"}, {"disk", "d1"}}, exit_refused, "refused",
                  "disk d1 is attached to instance vm1 already");
    check_failure("instance.detach", {{"instance", "vm1"}, {"disk", "d2"}}, exit_not_found,
                  "not-found", "disk d2 is not attached to instance vm1");
    check_failure("instance.create", {{"name", "vm2"}, {"temp_size", mib}, {"disks", {"d2", "d2"}}},
                  exit_usage, "invalid-argument", "instance vm2: disk d2 is named twice");
    check_failure("instance.show", {{"name", "vm9"}}, exit_not_found, "not-found",
                  "no instance named vm9");
    check_failure("instance.deallocate", {{"name", "vm9"}}, exit_not_found, "not-found",
                  "no instance named vm9");
    // A disk named like the temp disk would take its export name.
    add_disk("temp");
    check_failure("instance.attach", {{"instance", "vm1"}, {"disk", "temp"}}, exit_usage,
                  "invalid-argument", "its export would be the instance's temp disk");
    // Nothing of the refused requests was recorded.
    CHECK(run("instance.list").size() == 1);
    CHECK(run("instance.show", {{"name", "vm1"}}).at("disks") == json::array({"d1"}));
}

TEST_CASE_METHOD(InstanceTest, "an attached disk cannot be deleted",
                 "[methods][instances][errors]") {
    create("vm1", {"d1"});
    check_failure("disk.delete", {{"name", "d1"}}, exit_refused, "refused",
                  "disk d1 is attached to instance vm1; detach it first");
    CHECK(fs::exists(backing("d1")));
    run("instance.detach", {{"instance", "vm1"}, {"disk", "d1"}});
    run("disk.delete", {{"name", "d1"}});
    CHECK(disk_names() == Names{"d2"});
}

TEST_CASE_METHOD(InstanceTest,
                 "with a daemon, exports are released before they go and the plan is served after",
                 "[methods][instances][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    create("vm1", {"d1"});
    // d1 stops being served as itself before it is served as vm1/d1.
    CHECK(daemon.calls == Names{"exports_releasing d1", "serving_changed", "live_status"});

    daemon.calls.clear();
    run("instance.attach", {{"instance", "vm1"}, {"disk", "d2"}});
    CHECK(daemon.calls == Names{"exports_releasing d2", "serving_changed", "live_status"});

    daemon.calls.clear();
    run("instance.detach", {{"instance", "vm1"}, {"disk", "d2"}});
    CHECK(daemon.calls == Names{"exports_releasing vm1/d2", "serving_changed", "live_status"});

    daemon.calls.clear();
    run("instance.deallocate", {{"name", "vm1"}});
    CHECK(daemon.calls ==
          Names{"exports_releasing vm1/d1 vm1/temp", "serving_changed", "live_status"});

    daemon.calls.clear();
    run("instance.allocate", {{"name", "vm1"}});
    CHECK(daemon.calls == Names{"serving_changed", "live_status"});

    daemon.calls.clear();
    run("instance.delete", {{"name", "vm1"}});
    CHECK(daemon.calls == Names{"exports_releasing vm1/d1 vm1/temp", "serving_changed"});
}

TEST_CASE_METHOD(InstanceTest,
                 "with a daemon, a change whose exports are in use is refused and not made",
                 "[methods][instances][daemon][errors]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    create("vm1", {"d1"});
    daemon.busy_export = "vm1/temp";
    check_failure("instance.deallocate", {{"name", "vm1"}}, exit_refused, "refused",
                  "vm1/temp is in use");
    check_failure("instance.delete", {{"name", "vm1"}}, exit_refused, "refused",
                  "vm1/temp is in use");
    daemon.busy_export = "d2";
    check_failure("instance.attach", {{"instance", "vm1"}, {"disk", "d2"}}, exit_refused, "refused",
                  "d2 is in use");
    const json view = run("instance.show", {{"name", "vm1"}});
    CHECK(view.at("allocated") == true);
    CHECK(view.at("disks") == json::array({"d1"}));
}

TEST_CASE_METHOD(InstanceTest, "with a daemon, exports it cannot serve are reported",
                 "[methods][instances][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    daemon.unserved = {{"vm1/temp", "no space left on device"}};
    const json view = create("vm1");
    CHECK(view.at("not_served") == json{{"vm1/temp", "no space left on device"}});
    CHECK(tier_of(view, "temp").at("note") ==
          "allocated, but the daemon could not make its temp disk");
}

TEST_CASE_METHOD(InstanceTest,
                 "with a daemon, show names each tier's DEK and the key that wraps it",
                 "[methods][instances][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    create("vm1", {"d1"});
    daemon.live["disks"]["vm1/d1"] = {
        {"tier", "persisted"}, {"disk", "d1"}, {"dek_ids", {"1111222233334444"}}};
    daemon.live["disks"]["vm1/temp"] = {
        {"tier", "temp"},
        {"dek_ids", {"5555666677778888"}},
        {"wrapped_by", {{"provider", "platform"}, {"name", "platform-kek"}, {"version", 3}}}};
    const json view = run("instance.show", {{"name", "vm1"}});
    const json& persisted = tier_of(view, "persisted", "d1");
    CHECK(persisted.at("served") == true);
    CHECK(persisted.at("layers")[0].at("dek_id") == "1111222233334444");
    const json& temp_tier = tier_of(view, "temp");
    CHECK(temp_tier.at("served") == true);
    CHECK(temp_tier.at("layers") ==
          json::array({{{"layer", "only"},
                        {"wrapped_by",
                         {{"provider", "platform"}, {"name", "platform-kek"}, {"version", 3}}},
                        {"dek_id", "5555666677778888"}}}));
}

TEST_CASE_METHOD(InstanceTest,
                 "with a daemon, a disk leaves its own export even for a deallocated instance",
                 "[methods][instances][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    create("vm1", {"d1"}, false);
    CHECK(daemon.calls == Names{"exports_releasing d1", "serving_changed", "live_status"});
    daemon.calls.clear();
    daemon.busy_export = "d2";
    check_failure("instance.attach", {{"instance", "vm1"}, {"disk", "d2"}}, exit_refused, "refused",
                  "d2 is in use");
    CHECK(run("instance.show", {{"name", "vm1"}}).at("disks") == json::array({"d1"}));
}

TEST_CASE_METHOD(InstanceTest,
                 "with a daemon, only the instance's own exports are reported unserved",
                 "[methods][instances][daemon]") {
    FakeDaemon daemon;
    call.daemon = &daemon;
    daemon.unserved = {{"other", "its key is disabled"}, {"vm1/d1", "its key is disabled"}};
    const json view = create("vm1", {"d1"});
    CHECK(view.at("not_served") == json{{"vm1/d1", "its key is disabled"}});
    // A served-looking entry that is not served is shown as not served.
    daemon.live["disks"]["vm1/d1"] = {{"served", false},
                                      {"tier", "persisted"},
                                      {"disk", "d1"},
                                      {"not_served_because", "its key is disabled"}};
    const json shown = run("instance.show", {{"name", "vm1"}});
    const json& persisted = tier_of(shown, "persisted", "d1");
    CHECK(persisted.at("served") == false);
    CHECK(persisted.at("layers")[0].at("dek_id").is_null());
}

TEST_CASE_METHOD(InstanceTest,
                 "an unreadable instance record is listed as such and stops nothing else",
                 "[methods][instances][errors]") {
    create("vm1", {"d1"});
    hostcrypt::write_text_file_atomically(state_path / "instances" / "bad.json", "{garbage", 0600);
    const json list = run("instance.list");
    REQUIRE(list.size() == 2);
    CHECK(list[0].at("name") == "vm1");
    CHECK(list[1].at("name") == "bad");
    CHECK_THAT(list[1].at("error").get<std::string>(),
               Catch::Matchers::Contains("bad.json is unreadable"));
    CHECK(run("status").at("disks").size() == 2);
    run("instance.detach", {{"instance", "vm1"}, {"disk", "d1"}});
    check_failure("instance.show", {{"name", "bad"}}, exit_state_damaged, "state-damaged",
                  "bad.json is unreadable");
}
