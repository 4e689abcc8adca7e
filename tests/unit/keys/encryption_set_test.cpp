#include "keys/encryption_set.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "common/utc_time.hpp"
#include "keys/key_ref.hpp"
#include "keys/keys_error.hpp"
#include "keys/keys_string_makers.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using hostcrypt::test::thrown;
using namespace hostcrypt;
using namespace hostcrypt::keys;
using Catch::Matchers::Contains;
using hostcrypt::test::TempDir;
namespace fs = std::filesystem;

namespace {

const TimePoint created_at = parse_utc("2026-11-23T09:00:00Z");

EncryptionSet platform_set(const std::string& name) {
    return {name, EncryptionType::platform, "", "", std::nullopt, created_at};
}

EncryptionSet customer_set(const std::string& name,
                           std::optional<std::uint32_t> version = std::nullopt) {
    return {name, EncryptionType::customer, "local", "app-key", version, created_at};
}

EncryptionSet double_set(const std::string& name,
                         std::optional<std::uint32_t> version = std::nullopt) {
    return {name, EncryptionType::double_, "local", "app-key", version, created_at};
}

void check_same(const EncryptionSet& actual, const EncryptionSet& expected) {
    CHECK(actual.name == expected.name);
    CHECK(actual.type == expected.type);
    CHECK(actual.vault == expected.vault);
    CHECK(actual.key_name == expected.key_name);
    CHECK(actual.key_version == expected.key_version);
    CHECK(actual.created == expected.created);
}

std::vector<std::string> names_of(const std::vector<EncryptionSet>& sets) {
    std::vector<std::string> names;
    for (const EncryptionSet& set : sets) {
        names.push_back(set.name);
    }
    return names;
}

struct SetDir {
    TempDir temp;
    fs::path directory = temp / "sets";
    SetStore store{directory};
};

}  // namespace

TEST_CASE("a set of each type reads back as it was created", "[sets]") {
    SetDir dir;
    const EncryptionSet set =
        GENERATE(platform_set("plain"), customer_set("cust"), customer_set("cust-pinned", 3),
                 double_set("dbl"), double_set("dbl-pinned", 1));
    dir.store.create(set);
    check_same(dir.store.get(set.name), set);
    CHECK(fs::exists(dir.directory / (set.name + ".json")));
}

TEST_CASE("a set file is private", "[sets]") {
    SetDir dir;
    dir.store.create(customer_set("web"));
    const auto perms = fs::status(dir.directory / "web.json").permissions();
    CHECK((perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
}

TEST_CASE("the set store lists every set sorted by name", "[sets]") {
    SetDir dir;
    CHECK(dir.store.list().empty());  // the directory does not exist yet
    dir.store.create(double_set("web"));
    dir.store.create(platform_set("app"));
    dir.store.create(customer_set("db", 2));
    const auto sets = dir.store.list();
    CHECK(names_of(sets) == std::vector<std::string>{"app", "db", "web"});
    check_same(sets[1], customer_set("db", 2));
}

TEST_CASE("an updated set reads back with its new fields", "[sets]") {
    SetDir dir;
    dir.store.create(customer_set("web"));
    dir.store.update(customer_set("web", 4));
    CHECK(dir.store.get("web").key_version == 4u);
    dir.store.update(double_set("web"));
    check_same(dir.store.get("web"), double_set("web"));
    CHECK(dir.store.list().size() == 1);
}

TEST_CASE("a removed set is gone from get and list", "[sets]") {
    SetDir dir;
    dir.store.create(platform_set("a"));
    dir.store.create(platform_set("b"));
    dir.store.remove("a");
    CHECK(thrown<KeysError>([&] { dir.store.get("a"); }).code() == KeysErrc::not_found);
    CHECK(names_of(dir.store.list()) == std::vector<std::string>{"b"});
    dir.store.create(customer_set("a"));  // the name is free again
    CHECK(dir.store.get("a").type == EncryptionType::customer);
}

TEST_CASE("a platform set has one layer under the newest platform key", "[sets][layers]") {
    const auto specs = layer_key_specs(platform_set("p"));
    REQUIRE(specs.size() == 1);
    CHECK(specs[0].provider == "platform");
    CHECK(specs[0].key_name == "platform-kek");
    CHECK_FALSE(specs[0].version);
}

TEST_CASE("a customer set has one layer under its vault key, pinned or latest", "[sets][layers]") {
    const auto latest = layer_key_specs(customer_set("c"));
    REQUIRE(latest.size() == 1);
    CHECK(latest[0].provider == "vault:local");
    CHECK(latest[0].key_name == "app-key");
    CHECK_FALSE(latest[0].version);

    const auto pinned = layer_key_specs(customer_set("c", 3));
    REQUIRE(pinned.size() == 1);
    CHECK(pinned[0].version == 3u);
}

TEST_CASE("a double set has the customer key inside and the platform key outside",
          "[sets][layers]") {
    const auto specs = layer_key_specs(double_set("d", 2));
    REQUIRE(specs.size() == 2);
    CHECK(specs[0].provider == "vault:local");
    CHECK(specs[0].key_name == "app-key");
    CHECK(specs[0].version == 2u);
    CHECK(specs[1].provider == "platform");
    CHECK(specs[1].key_name == "platform-kek");
    CHECK_FALSE(specs[1].version);  // the pin is the customer key's, never the platform's

    const auto latest = layer_key_specs(double_set("d"));
    REQUIRE(latest.size() == 2);
    CHECK_FALSE(latest[0].version);
    CHECK_FALSE(latest[1].version);
}

TEST_CASE("encryption types print and parse as platform, customer and double", "[sets]") {
    for (const EncryptionType type :
         {EncryptionType::platform, EncryptionType::customer, EncryptionType::double_}) {
        CHECK(parse_encryption_type(to_string(type)) == type);
    }
    CHECK(std::string(to_string(EncryptionType::double_)) == "double");
}

TEST_CASE("an unknown encryption type is refused naming the choices", "[sets][errors]") {
    const std::string text =
        GENERATE(as<std::string>{}, "triple", "", "Double", "double_", " platform");
    const KeysError error = thrown<KeysError>([&] { parse_encryption_type(text); });
    CHECK(error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(error.what(),
               Contains("'" + text + "'") && Contains("platform, customer or double"));
}

TEST_CASE("creating a set whose name is taken is refused and keeps the old set", "[sets][errors]") {
    SetDir dir;
    dir.store.create(customer_set("web", 1));
    const KeysError error = thrown<KeysError>([&] { dir.store.create(platform_set("web")); });
    CHECK(error.code() == KeysErrc::already_exists);
    CHECK_THAT(error.what(), Contains("web") && Contains("already exists"));
    check_same(dir.store.get("web"), customer_set("web", 1));
}

TEST_CASE("an unknown set is not found by get, update or remove", "[sets][errors]") {
    SetDir dir;
    dir.store.create(platform_set("other"));
    for (const KeysError& error :
         {thrown<KeysError>([&] { dir.store.get("web"); }),
          thrown<KeysError>([&] { dir.store.update(platform_set("web")); }),
          thrown<KeysError>([&] { dir.store.remove("web"); })}) {
        CHECK(error.code() == KeysErrc::not_found);
        CHECK_THAT(error.what(), Contains("no encryption set named web"));
    }
    CHECK_FALSE(fs::exists(dir.directory / "web.json"));  // update did not create it
}

TEST_CASE("a platform set that names a customer key is refused", "[sets][errors]") {
    SetDir dir;
    EncryptionSet set = platform_set("web");
    SECTION("a vault") {
        set.vault = "local";
    }
    SECTION("a key") {
        set.key_name = "app-key";
    }
    SECTION("a version") {
        set.key_version = 1;
    }
    const KeysError error = thrown<KeysError>([&] { dir.store.create(set); });
    CHECK(error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(error.what(), Contains("web") && Contains("takes no customer key"));
    CHECK_FALSE(fs::exists(dir.directory / "web.json"));
}

TEST_CASE("a customer or double set without a vault or key is refused", "[sets][errors]") {
    SetDir dir;
    EncryptionSet set = GENERATE(customer_set("web"), double_set("web"));
    SECTION("no vault") {
        set.vault.clear();
    }
    SECTION("no key") {
        set.key_name.clear();
    }
    const KeysError error = thrown<KeysError>([&] { dir.store.create(set); });
    CHECK(error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(error.what(), Contains("web") && Contains("needs a customer key"));
    CHECK_FALSE(fs::exists(dir.directory / "web.json"));
}

TEST_CASE("a set with a bad set, vault or key name is refused", "[sets][errors]") {
    SetDir dir;
    const std::string bad =
        GENERATE(as<std::string>{}, ".hidden", "-dash", "a/b", "..", "../escape", "with space",
                 "tab\t", std::string(64, 'x'), "ümlaut");
    INFO(bad);
    SECTION("set name") {
        const KeysError error = thrown<KeysError>([&] { dir.store.create(platform_set(bad)); });
        CHECK(error.code() == KeysErrc::invalid_argument);
        CHECK_THAT(error.what(), Contains("invalid encryption set name"));
        // Reads refuse the name as well, before it can become a path.
        CHECK(thrown<KeysError>([&] { dir.store.get(bad); }).code() == KeysErrc::invalid_argument);
        CHECK(thrown<KeysError>([&] { dir.store.remove(bad); }).code() ==
              KeysErrc::invalid_argument);
    }
    SECTION("vault name") {
        EncryptionSet set = customer_set("web");
        set.vault = bad;
        const KeysError error = thrown<KeysError>([&] { dir.store.create(set); });
        CHECK(error.code() == KeysErrc::invalid_argument);
        CHECK_THAT(error.what(), Contains("invalid vault name"));
    }
    SECTION("key name") {
        EncryptionSet set = double_set("web");
        set.key_name = bad;
        const KeysError error = thrown<KeysError>([&] { dir.store.create(set); });
        CHECK(error.code() == KeysErrc::invalid_argument);
        CHECK_THAT(error.what(), Contains("invalid key name"));
    }
    CHECK_FALSE(fs::exists(dir.directory / "web.json"));
}

TEST_CASE("the empty set name and a 63-character one are on either side of the rule",
          "[sets][errors]") {
    SetDir dir;
    CHECK(thrown<KeysError>([&] { dir.store.create(platform_set("")); }).code() ==
          KeysErrc::invalid_argument);
    const std::string longest(63, 'n');
    dir.store.create(platform_set(longest));
    CHECK(dir.store.get(longest).name == longest);
}

TEST_CASE("a pinned key version of 0 is refused", "[sets][errors]") {
    SetDir dir;
    const EncryptionSet set = GENERATE(customer_set("web", 0), double_set("web", 0));
    const KeysError error = thrown<KeysError>([&] { dir.store.create(set); });
    CHECK(error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(error.what(), Contains("start at 1"));
    CHECK_FALSE(fs::exists(dir.directory / "web.json"));
}

TEST_CASE("an update to an invalid set is refused and keeps the old set", "[sets][errors]") {
    SetDir dir;
    dir.store.create(customer_set("web", 2));
    CHECK(thrown<KeysError>([&] { dir.store.update(customer_set("web", 0)); }).code() ==
          KeysErrc::invalid_argument);
    check_same(dir.store.get("web"), customer_set("web", 2));
}

namespace {

// Writes `content` as the file of set "web" and checks what get and list say.
void check_corrupt_set_file(const std::string& content) {
    SetDir dir;
    dir.store.create(customer_set("web"));
    const fs::path file = dir.directory / "web.json";
    INFO(content);
    write_text_file_atomically(file, content, 0600);
    const KeysError error = thrown<KeysError>([&] { dir.store.get("web"); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(error.what(), Contains(file.string()));
    // One corrupt set makes the list fail loudly rather than silently shrink.
    CHECK(thrown<KeysError>([&] { dir.store.list(); }).code() == KeysErrc::storage);
}

}  // namespace

TEST_CASE("a set file that is not a set document is a storage error naming the file",
          "[sets][errors][storage]") {
    check_corrupt_set_file(
        GENERATE(as<std::string>{}, "not json at all", "", "[1, 2]", "{\"name\":\"web\"}",
                 R"({"format":1,"name":"web","type":"customer","created":"2026-11-23T09:00:00Z"})",
                 R"({"format":1,"name":"web","type":7,"created":"2026-11-23T09:00:00Z"})"));
}

TEST_CASE("a set file with an unknown type or time is a storage error naming the file",
          "[sets][errors][storage]") {
    check_corrupt_set_file(
        GENERATE(as<std::string>{},
                 R"({"format":1,"name":"web","type":"triple","created":"2026-11-23T09:00:00Z"})",
                 R"({"format":1,"name":"web","type":"platform","created":"last tuesday"})"));
}
