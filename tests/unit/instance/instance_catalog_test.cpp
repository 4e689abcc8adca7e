// InstanceCatalog: one record per instance in <state>/instances, replaced
// atomically, with clear errors for bad names, duplicates, missing and
// damaged records.

#include "instance/instance_catalog.hpp"

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "instance/instance_error.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt;
using namespace hostcrypt::instance;
using Catch::Matchers::Contains;
using hostcrypt::test::thrown;

namespace {

struct CatalogTest {
    hostcrypt::test::TempDir temp;
    std::filesystem::path directory = temp / "instances";
    InstanceCatalog catalog{directory};

    static InstanceRecord record(const std::string& name) {
        InstanceRecord r;
        r.name = name;
        r.temp = {64 << 20, 512};
        r.disks = {{"data"}, {"logs"}};
        r.allocated = true;
        r.created = parse_utc("2026-11-23T10:00:00Z");
        return r;
    }
};

}  // namespace

TEST_CASE_METHOD(CatalogTest, "an instance record reads back as written", "[instance][catalog]") {
    catalog.add(record("vm1"));
    const InstanceRecord read = catalog.get("vm1");
    CHECK(read.name == "vm1");
    CHECK(read.temp.size == 64 << 20);
    CHECK(read.temp.sector_size == 512);
    CHECK(read.disks == std::vector<AttachedDisk>{{"data"}, {"logs"}});
    CHECK(read.allocated);
    CHECK(format_utc(read.created) == "2026-11-23T10:00:00Z");
    CHECK((std::filesystem::status(directory / "vm1.json").permissions() &
           std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
}

TEST_CASE_METHOD(CatalogTest, "instances are listed by name and found by disk",
                 "[instance][catalog]") {
    InstanceRecord second = record("b-vm");
    second.disks = {{"other"}};
    catalog.add(record("vm1"));
    catalog.add(second);
    const std::vector<InstanceRecord> all = catalog.list();
    REQUIRE(all.size() == 2);
    CHECK(all[0].name == "b-vm");
    CHECK(all[1].name == "vm1");
    CHECK(catalog.attached_to("logs") == "vm1");
    CHECK(catalog.attached_to("other") == "b-vm");
    CHECK_FALSE(catalog.attached_to("nothing").has_value());
}

TEST_CASE_METHOD(CatalogTest, "saving replaces a record and removing forgets it",
                 "[instance][catalog]") {
    InstanceRecord r = record("vm1");
    catalog.add(r);
    r.allocated = false;
    r.disks.pop_back();
    catalog.save(r);
    CHECK_FALSE(catalog.get("vm1").allocated);
    CHECK(catalog.get("vm1").disks.size() == 1);
    catalog.remove("vm1");
    CHECK(catalog.list().empty());
}

TEST_CASE_METHOD(CatalogTest, "instance catalog errors name the instance",
                 "[instance][catalog][errors]") {
    catalog.add(record("vm1"));
    auto error = thrown<InstanceError>([&] { catalog.add(record("vm1")); });
    CHECK(error.code() == InstanceErrc::already_exists);
    CHECK_THAT(error.what(), Contains("instance vm1 already exists"));

    error = thrown<InstanceError>([&] { catalog.get("vm2"); });
    CHECK(error.code() == InstanceErrc::not_found);
    CHECK_THAT(error.what(), Contains("no instance named vm2"));
    CHECK(thrown<InstanceError>([&] { catalog.save(record("vm2")); }).code() ==
          InstanceErrc::not_found);
    CHECK(thrown<InstanceError>([&] { catalog.remove("vm2"); }).code() == InstanceErrc::not_found);

    error = thrown<InstanceError>([&] { catalog.add(record("../evil")); });
    CHECK(error.code() == InstanceErrc::invalid_argument);
    CHECK_THAT(error.what(), Contains("invalid instance name"));
}

TEST_CASE_METHOD(CatalogTest, "a damaged instance record is reported, not guessed at",
                 "[instance][catalog][errors]") {
    const std::string text = GENERATE(std::string("not json"), std::string("{\"name\": \"vm1\"}"),
                                      std::string("{\"name\": \"vm9\", \"created\": "
                                                  "\"2026-11-23T10:00:00Z\", \"allocated\": true, "
                                                  "\"temp\": {\"size\": 1, \"sector_size\": 512}, "
                                                  "\"disks\": []}"));
    ensure_private_directory(directory);
    write_text_file_atomically(directory / "vm1.json", text, 0600);
    const auto error = thrown<InstanceError>([&] { catalog.get("vm1"); });
    CHECK(error.code() == InstanceErrc::corrupt);
    CHECK_THAT(error.what(), Contains("vm1.json is unreadable"));
}

TEST_CASE_METHOD(CatalogTest, "readable records are listed past a damaged one",
                 "[instance][catalog][errors]") {
    catalog.add(record("vm1"));
    write_text_file_atomically(directory / "bad.json", "{", 0600);
    std::map<std::string, std::string> unreadable;
    const std::vector<InstanceRecord> records = catalog.readable(unreadable);
    REQUIRE(records.size() == 1);
    CHECK(records[0].name == "vm1");
    REQUIRE(unreadable.contains("bad"));
    CHECK_THAT(unreadable.at("bad"), Contains("bad.json is unreadable"));
    CHECK(catalog.attached_to("data") == "vm1");
    CHECK(thrown<InstanceError>([&] { catalog.list(); }).code() == InstanceErrc::corrupt);
}
