#include "keys/platform_key_store.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "common/files.hpp"
#include "common/utc_time.hpp"
#include "crypto/random.hpp"
#include "keys/keys_error.hpp"
#include "keys/keys_string_makers.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using hostcrypt::test::thrown;
using namespace hostcrypt;
using namespace hostcrypt::keys;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using hostcrypt::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr auto day = std::chrono::hours(24);

// A clock the test moves by hand.
struct TestClock {
    TimePoint now = parse_utc("2026-11-23T09:00:00Z");
    ClockFunction function() {
        return [this] { return now; };
    }
};

std::vector<std::byte> random_dek() {
    std::vector<std::byte> dek(64);
    crypto::fill_random(dek);
    return dek;
}

KeyRef platform_ref(std::uint32_t version) {
    return {platform_provider, platform_key_name, version};
}

// Replaces a file's content, keeping it private.
void overwrite(const fs::path& file, const std::vector<std::byte>& content) {
    write_file_atomically(file, content, 0600);
}

void overwrite(const fs::path& file, const std::string& text) {
    write_text_file_atomically(file, text, 0600);
}

mode_t mode_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::vector<std::uint32_t> version_numbers(PlatformKeyStore& store) {
    std::vector<std::uint32_t> numbers;
    for (const KeyVersionInfo& info : store.versions()) {
        numbers.push_back(info.version);
    }
    return numbers;
}

// A store directory of its own below a fresh temporary directory.
struct StoreDir {
    TempDir temp;
    TestClock clock;
    fs::path path = temp / "platform";

    std::unique_ptr<PlatformKeyStore> open() {
        return PlatformKeyStore::open(path, clock.function());
    }
};

}  // namespace

TEST_CASE("a new platform store is created on first open with version 1", "[platform]") {
    StoreDir dir;
    const auto store = dir.open();
    const auto versions = store->versions();
    REQUIRE(versions.size() == 1);
    CHECK(versions[0].version == 1);
    CHECK(versions[0].created == dir.clock.now);
    CHECK(store->latest_version(platform_key_name) == 1);
    CHECK(store->provider_id() == "platform");
    // Private from the start: the directory 0700, both files 0600.
    CHECK(mode_of(dir.path) == 0700);
    CHECK(mode_of(dir.path / "root.key") == 0600);
    CHECK(mode_of(dir.path / "keks.json") == 0600);
    CHECK(fs::file_size(dir.path / "root.key") == 32);
}

TEST_CASE("a DEK wrapped by the platform store unwraps to the same bytes", "[platform]") {
    StoreDir dir;
    const auto store = dir.open();
    const auto dek = random_dek();
    const WrappedKey wrapped = store->wrap(platform_key_name, std::nullopt, dek);
    CHECK(wrapped.kek == platform_ref(1));
    CHECK(wrapped.blob.size() == 72);  // RFC 5649 of 64 bytes
    CHECK(wrapped.blob != dek);
    CHECK(store->unwrap(wrapped.kek, wrapped.blob).equals(dek));
}

TEST_CASE("after a rotation new DEKs are wrapped by version 2 and version 1 still unwraps old ones",
          "[platform][rotation]") {
    StoreDir dir;
    const auto store = dir.open();
    const auto old_dek = random_dek();
    const WrappedKey old_wrapped = store->wrap(platform_key_name, std::nullopt, old_dek);

    dir.clock.now += day;
    const KeyVersionInfo rotated = store->rotate();
    CHECK(rotated.version == 2);
    CHECK(rotated.created == dir.clock.now);
    CHECK(store->latest_version(platform_key_name) == 2);

    const auto new_dek = random_dek();
    const WrappedKey new_wrapped = store->wrap(platform_key_name, std::nullopt, new_dek);
    CHECK(new_wrapped.kek == platform_ref(2));
    CHECK(store->unwrap(platform_ref(2), new_wrapped.blob).equals(new_dek));
    CHECK(store->unwrap(platform_ref(1), old_wrapped.blob).equals(old_dek));

    // The versions are different keys: a blob opens only under its own.
    CHECK(thrown<KeysError>([&] { store->unwrap(platform_ref(2), old_wrapped.blob); }).code() ==
          KeysErrc::unwrap_failed);
    // An explicit older version still wraps.
    CHECK(store->wrap(platform_key_name, 1, new_dek).kek == platform_ref(1));
}

TEST_CASE("a reopened platform store keeps every version and its keys", "[platform]") {
    StoreDir dir;
    const auto dek = random_dek();
    std::vector<WrappedKey> wrapped;
    std::vector<TimePoint> created;
    {
        const auto store = dir.open();
        wrapped.push_back(store->wrap(platform_key_name, std::nullopt, dek));
        for (int i = 0; i < 2; ++i) {
            dir.clock.now += day;
            store->rotate();
            wrapped.push_back(store->wrap(platform_key_name, std::nullopt, dek));
        }
        for (const KeyVersionInfo& info : store->versions()) {
            created.push_back(info.created);
        }
    }
    const auto store = dir.open();
    CHECK(version_numbers(*store) == std::vector<std::uint32_t>{1, 2, 3});
    const auto versions = store->versions();
    for (std::size_t i = 0; i < versions.size(); ++i) {
        CHECK(versions[i].created == created[i]);
    }
    CHECK(store->latest_version(platform_key_name) == 3);
    for (const WrappedKey& key : wrapped) {
        CHECK(store->unwrap(key.kek, key.blob).equals(dek));
    }
}

TEST_CASE("rotate_if_older_than rotates only once the newest version has reached the age",
          "[platform][rotation]") {
    StoreDir dir;
    const auto store = dir.open();
    const std::chrono::seconds max_age = 30 * day;

    dir.clock.now += 30 * day - 1s;
    CHECK_FALSE(store->rotate_if_older_than(max_age));
    CHECK(version_numbers(*store) == std::vector<std::uint32_t>{1});

    dir.clock.now += 1s;
    const auto rotated = store->rotate_if_older_than(max_age);
    REQUIRE(rotated);
    CHECK(rotated->version == 2);
    CHECK(rotated->created == dir.clock.now);

    // The age now counts from version 2.
    CHECK_FALSE(store->rotate_if_older_than(max_age));
    dir.clock.now += 30 * day - 1s;
    CHECK_FALSE(store->rotate_if_older_than(max_age));
    dir.clock.now += 1s;
    REQUIRE(store->rotate_if_older_than(max_age));
    CHECK(version_numbers(*store) == std::vector<std::uint32_t>{1, 2, 3});
}

TEST_CASE("rotate_if_older_than measures the age of a reopened store from its stored time",
          "[platform][rotation]") {
    StoreDir dir;
    dir.open();
    dir.clock.now += 10 * day;
    const auto store = dir.open();
    CHECK_FALSE(store->rotate_if_older_than(11 * day));
    CHECK(store->rotate_if_older_than(10 * day));
}

TEST_CASE("prune deletes every version that is neither the newest nor in use", "[platform]") {
    StoreDir dir;
    const auto dek = random_dek();
    std::vector<WrappedKey> wrapped;
    {
        const auto store = dir.open();
        wrapped.push_back(store->wrap(platform_key_name, std::nullopt, dek));
        for (int i = 0; i < 3; ++i) {
            store->rotate();
            wrapped.push_back(store->wrap(platform_key_name, std::nullopt, dek));
        }
        CHECK(store->prune({2}) == std::vector<std::uint32_t>{1, 3});
        CHECK(version_numbers(*store) == std::vector<std::uint32_t>{2, 4});
        CHECK(store->prune({2}).empty());
    }
    // The deletion is stored, not only in memory.
    const auto store = dir.open();
    CHECK(version_numbers(*store) == std::vector<std::uint32_t>{2, 4});
    CHECK(store->unwrap(wrapped[1].kek, wrapped[1].blob).equals(dek));
    CHECK(store->unwrap(wrapped[3].kek, wrapped[3].blob).equals(dek));
    for (const std::size_t pruned : {0u, 2u}) {
        const KeysError error =
            thrown<KeysError>([&] { store->unwrap(wrapped[pruned].kek, wrapped[pruned].blob); });
        CHECK(error.code() == KeysErrc::not_found);
        CHECK_THAT(error.what(), Contains(fmt::format("version {} does not exist", pruned + 1)));
    }
    CHECK(store->health(platform_ref(1)).state == KeyState::not_found);

    // The newest version survives even when nothing uses it.
    CHECK(store->prune({}) == std::vector<std::uint32_t>{2});
    CHECK(version_numbers(*store) == std::vector<std::uint32_t>{4});
    CHECK(store->unwrap(wrapped[3].kek, wrapped[3].blob).equals(dek));
}

TEST_CASE("platform key health reports existing versions usable and missing ones not found",
          "[platform][health]") {
    StoreDir dir;
    const auto store = dir.open();
    CHECK(store->health(platform_ref(1)).usable());
    CHECK(store->health(platform_ref(1)).reason.empty());

    const KeyHealth missing = store->health(platform_ref(2));
    CHECK(missing.state == KeyState::not_found);
    CHECK_THAT(missing.reason, Contains("platform/platform-kek@2"));

    CHECK(store->health({platform_provider, "other-kek", 1}).state == KeyState::not_found);
    CHECK(store->health({"vault:local", platform_key_name, 1}).state == KeyState::not_found);
    CHECK(store->health(platform_ref(0)).state == KeyState::not_found);

    store->rotate();
    CHECK(store->health(platform_ref(2)).usable());
}

TEST_CASE("the platform store knows only the key named platform-kek", "[platform][errors]") {
    StoreDir dir;
    const auto store = dir.open();
    const auto dek = random_dek();

    const KeysError wrap_error =
        thrown<KeysError>([&] { store->wrap("app-key", std::nullopt, dek); });
    CHECK(wrap_error.code() == KeysErrc::not_found);
    CHECK_THAT(wrap_error.what(), Contains("platform-kek") && Contains("app-key"));

    CHECK(thrown<KeysError>([&] { store->latest_version("app-key"); }).code() ==
          KeysErrc::not_found);

    const WrappedKey wrapped = store->wrap(platform_key_name, std::nullopt, dek);
    CHECK(thrown<KeysError>([&] {
              store->unwrap({platform_provider, "app-key", 1}, wrapped.blob);
          }).code() == KeysErrc::not_found);
    const KeysError provider_error = thrown<KeysError>([&] {
        store->unwrap({"vault:local", platform_key_name, 1}, wrapped.blob);
    });
    CHECK(provider_error.code() == KeysErrc::not_found);
    CHECK_THAT(provider_error.what(), Contains("not a platform key"));
}

TEST_CASE("wrapping with a platform key version that does not exist is not found",
          "[platform][errors]") {
    StoreDir dir;
    const auto store = dir.open();
    const KeysError error =
        thrown<KeysError>([&] { store->wrap(platform_key_name, 2, random_dek()); });
    CHECK(error.code() == KeysErrc::not_found);
    CHECK_THAT(error.what(), Contains("version 2 does not exist"));
}

TEST_CASE("a tampered or truncated blob does not unwrap under the platform key",
          "[platform][errors]") {
    StoreDir dir;
    const auto store = dir.open();
    const WrappedKey wrapped = store->wrap(platform_key_name, std::nullopt, random_dek());
    for (std::size_t i = 0; i < wrapped.blob.size(); ++i) {
        auto tampered = wrapped.blob;
        tampered[i] ^= std::byte{0x80};
        const KeysError error = thrown<KeysError>([&] { store->unwrap(wrapped.kek, tampered); });
        CHECK(error.code() == KeysErrc::unwrap_failed);
        CHECK_THAT(error.what(), Contains("platform/platform-kek@1"));
    }
    const std::vector<std::byte> truncated(wrapped.blob.begin(), wrapped.blob.end() - 8);
    CHECK(thrown<KeysError>([&] { store->unwrap(wrapped.kek, truncated); }).code() ==
          KeysErrc::unwrap_failed);
    CHECK(thrown<KeysError>([&] { store->unwrap(wrapped.kek, {}); }).code() ==
          KeysErrc::unwrap_failed);
}

TEST_CASE("a platform store directory open to group or others is refused with a chmod hint",
          "[platform][errors][storage]") {
    StoreDir dir;
    SECTION("a directory created by someone else with mode 0755") {
        fs::create_directories(dir.path);
        fs::permissions(dir.path, fs::perms(0755));
    }
    SECTION("an existing store whose directory became group-readable") {
        dir.open();
        fs::permissions(dir.path, fs::perms(0750));
    }
    const KeysError error = thrown<KeysError>([&] { dir.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(error.what(), Contains("chmod 0700") && Contains(dir.path.string()));
}

TEST_CASE("platform key files readable by others are refused", "[platform][errors][storage]") {
    StoreDir dir;
    dir.open();
    const std::string file = GENERATE("root.key", "keks.json");
    fs::permissions(dir.path / file, fs::perms(0644));
    const KeysError error = thrown<KeysError>([&] { dir.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(error.what(), Contains("chmod 0600") && Contains((dir.path / file).string()));
}

TEST_CASE("a deleted root.key is not replaced while keks.json exists",
          "[platform][errors][storage]") {
    StoreDir dir;
    dir.open();
    const auto keks_before = read_file(dir.path / "keks.json");
    fs::remove(dir.path / "root.key");

    const KeysError error = thrown<KeysError>([&] { dir.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(error.what(), Contains("refusing to create a new one") &&
                                 Contains((dir.path / "root.key").string()));
    CHECK_FALSE(fs::exists(dir.path / "root.key"));
    CHECK(read_file(dir.path / "keks.json") == keks_before);
}

TEST_CASE("a deleted keks.json is not silently recreated beside its root.key",
          "[platform][errors][storage]") {
    StoreDir dir;
    dir.open();
    const auto root_before = read_file(dir.path / "root.key");
    fs::remove(dir.path / "keks.json");

    const KeysError error = thrown<KeysError>([&] { dir.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(error.what(), Contains("is missing beside an existing root.key") &&
                                 Contains((dir.path / "keks.json").string()));
    CHECK_FALSE(fs::exists(dir.path / "keks.json"));
    CHECK(read_file(dir.path / "root.key") == root_before);
}

TEST_CASE("a root.key of the wrong length is refused", "[platform][errors][storage]") {
    StoreDir dir;
    dir.open();
    const std::size_t length = GENERATE(0u, 31u, 33u, 64u);
    std::vector<std::byte> content(length, std::byte{0x5a});
    overwrite(dir.path / "root.key", content);
    const KeysError error = thrown<KeysError>([&] { dir.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(error.what(), Contains("32 bytes") && Contains((dir.path / "root.key").string()));
}

TEST_CASE("a keks.json that is not a valid key list is refused naming the file",
          "[platform][errors][storage]") {
    StoreDir dir;
    dir.open();
    const fs::path keks = dir.path / "keks.json";
    const std::string content =
        GENERATE(as<std::string>{}, "garbage, not JSON", "", "[]", "{\"format\":1}",
                 R"({"versions":[{"version":1}]})", R"({"versions":[{"version":"one"}]})",
                 R"({"format":1,"versions":[]})");
    INFO(content);
    overwrite(keks, content);
    const KeysError error = thrown<KeysError>([&] { dir.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(error.what(), Contains(keks.string()));
}

TEST_CASE("a keks.json with an unreadable field value is refused naming the file",
          "[platform][errors][storage]") {
    StoreDir dir;
    dir.open();
    const fs::path keks = dir.path / "keks.json";
    const std::string content =
        GENERATE(as<std::string>{},
                 R"({"versions":[{"version":1,"created":"2026-11-23T09:00:00Z","sealed":"zz"}]})",
                 R"({"versions":[{"version":1,"created":"yesterday","sealed":"00"}]})");
    INFO(content);
    overwrite(keks, content);
    const KeysError error = thrown<KeysError>([&] { dir.open(); });
    CHECK(error.code() == KeysErrc::storage);
    CHECK_THAT(error.what(), Contains(keks.string()));
}

TEST_CASE("a root.key taken from another store does not open this store's keys",
          "[platform][errors][storage]") {
    StoreDir dir;
    const auto dek = random_dek();
    WrappedKey wrapped;
    {
        const auto store = dir.open();
        wrapped = store->wrap(platform_key_name, std::nullopt, dek);
    }
    TempDir other_temp;
    PlatformKeyStore::open(other_temp / "platform");
    overwrite(dir.path / "root.key", read_file(other_temp / "platform" / "root.key"));

    // Found when the store is opened, or at the latest on first use.
    for (const KeysError& error :
         {thrown<KeysError>([&] { dir.open()->wrap(platform_key_name, std::nullopt, dek); }),
          thrown<KeysError>([&] { dir.open()->unwrap(wrapped.kek, wrapped.blob); })}) {
        CHECK(error.code() == KeysErrc::storage);
        CHECK_THAT(error.what(), Contains("does not open under root.key") &&
                                     Contains((dir.path / "keks.json").string()));
    }
}

TEST_CASE("a replaced root.key is detected before a new version is sealed under it",
          "[platform][errors][storage][rotation]") {
    // Sealing a new version under a foreign root.key would leave keks.json
    // with versions under two different roots: whichever root.key is put
    // back, some platform-wrapped disks stop opening.
    StoreDir dir;
    dir.open();
    TempDir other_temp;
    PlatformKeyStore::open(other_temp / "platform");
    overwrite(dir.path / "root.key", read_file(other_temp / "platform" / "root.key"));
    const auto keks_before = read_file(dir.path / "keks.json");

    try {
        const auto store = dir.open();
        store->rotate();
        FAIL("a store whose root.key was replaced sealed a new version under it");
    } catch (const KeysError& error) {
        CHECK(error.code() == KeysErrc::storage);
        CHECK_THAT(error.what(), Contains("root.key"));
    }
    CHECK(read_file(dir.path / "keks.json") == keks_before);
}
