// plan_exports: which exports the daemon offers for a catalog and its
// instances — a disk of no instance as itself, an allocated instance's disks
// as "<instance>/<disk>" with its temp disk, a deallocated instance's disks
// not at all.

#include "instance/serving_plan.hpp"

#include <catch2/catch.hpp>

using namespace hostcrypt;
using namespace hostcrypt::instance;

namespace {

disk::CatalogEntry entry(const std::string& name) {
    return {name, "/disks/" + name + ".img", "set", {}, "uuid-" + name};
}

InstanceRecord record_of(const std::string& name, std::vector<std::string> disks,
                         bool allocated = true) {
    InstanceRecord record;
    record.name = name;
    record.temp = {8 << 20, 4096};
    record.allocated = allocated;
    for (std::string& disk : disks) {
        record.disks.push_back({std::move(disk), std::nullopt});
    }
    return record;
}

std::vector<std::string> names(const ServingPlan& plan) {
    std::vector<std::string> result;
    for (const auto& [name, planned] : plan.exports) {
        result.push_back(name);
    }
    return result;
}

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("without instances every disk is served as itself", "[instance][plan]") {
    const ServingPlan plan = plan_exports({entry("a"), entry("b")}, {});
    CHECK(names(plan) == Names{"a", "b"});
    const PlannedExport& a = plan.exports.at("a");
    CHECK(a.tier == disk::Tier::persisted);
    CHECK(a.instance.empty());
    CHECK(a.disk.path == "/disks/a.img");
    CHECK(plan.problems.empty());
}

TEST_CASE("an allocated instance serves its disks under its name and a temp disk",
          "[instance][plan]") {
    const ServingPlan plan =
        plan_exports({entry("a"), entry("b"), entry("c")}, {record_of("vm1", {"a", "b"})});
    CHECK(names(plan) == Names{"c", "vm1/a", "vm1/b", "vm1/temp"});
    const PlannedExport& a = plan.exports.at("vm1/a");
    CHECK(a.tier == disk::Tier::persisted);
    CHECK(a.instance == "vm1");
    CHECK(a.disk.name == "a");
    const PlannedExport& temp = plan.exports.at("vm1/temp");
    CHECK(temp.tier == disk::Tier::temp);
    CHECK(temp.instance == "vm1");
    CHECK(temp.temp.size == 8 << 20);
    CHECK(temp.temp.sector_size == 4096);
}

TEST_CASE("a deallocated instance serves nothing, not even its disks by their names",
          "[instance][plan]") {
    const ServingPlan plan =
        plan_exports({entry("a"), entry("b")}, {record_of("vm1", {"a"}, false)});
    CHECK(names(plan) == Names{"b"});
}

TEST_CASE("an instance without disks still has its temp disk", "[instance][plan]") {
    const ServingPlan plan = plan_exports({}, {record_of("vm1", {}), record_of("vm2", {}, false)});
    CHECK(names(plan) == Names{"vm1/temp"});
}

TEST_CASE("an attachment to a disk the catalog lacks is a problem, not an export",
          "[instance][plan]") {
    const ServingPlan plan = plan_exports({entry("a")}, {record_of("vm1", {"a", "gone"})});
    CHECK(names(plan) == Names{"vm1/a", "vm1/temp"});
    REQUIRE(plan.problems.contains("vm1/gone"));
    CHECK(plan.problems.at("vm1/gone") ==
          "instance vm1 names disk gone, which is not in the catalog");
}

TEST_CASE("planned exports compare by what serving them depends on", "[instance][plan]") {
    const ServingPlan before = plan_exports({entry("a")}, {record_of("vm1", {"a"})});
    disk::CatalogEntry replaced = entry("a");
    replaced.uuid = "uuid-other";
    InstanceRecord bigger = record_of("vm1", {"a"});
    bigger.temp.size = 16 << 20;
    const ServingPlan after = plan_exports({replaced}, {bigger});
    CHECK_FALSE(before.exports.at("vm1/a") == after.exports.at("vm1/a"));
    CHECK_FALSE(before.exports.at("vm1/temp") == after.exports.at("vm1/temp"));
    CHECK(before.exports.at("vm1/a") ==
          plan_exports({entry("a")}, {record_of("vm1", {"a"})}).exports.at("vm1/a"));
}

TEST_CASE("a disk attached to two instances is served by neither", "[instance][plan][errors]") {
    const ServingPlan plan = plan_exports(
        {entry("a"), entry("b")}, {record_of("vm1", {"a", "b"}), record_of("vm2", {"a"}, false)});
    CHECK(names(plan) == Names{"vm1/b", "vm1/temp"});
    REQUIRE(plan.problems.contains("vm1/a"));
    CHECK(plan.problems.at("vm1/a") ==
          "disk a is attached to more than one instance (vm1, vm2): served by none of them "
          "until all but one detach it");
}

TEST_CASE("a disk named like the temp disk is not attached in its place",
          "[instance][plan][errors]") {
    const ServingPlan plan = plan_exports({entry("temp")}, {record_of("vm1", {"temp"})});
    CHECK(names(plan) == Names{"vm1/temp"});
    CHECK(plan.exports.at("vm1/temp").tier == disk::Tier::temp);
    CHECK(plan.problems.contains("vm1/temp"));
}
