// What serving a disk does with its host cache file: create it, reuse it,
// make it afresh when its setting changed, keep it while it holds dirty
// data, re-wrap its DEKs to follow the disk's key versions — and, served
// without a cache, delete a leftover file unless it holds dirty data.

#include "disk/cache_opening.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "disk/cache_file.hpp"
#include "disk/dek_id.hpp"
#include "disk/disk_fixture.hpp"
#include "disk/disk_keys.hpp"
#include "disk/header_slots.hpp"
#include "disk/rotation.hpp"
#include "disk/served_disk.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;
using keys::EncryptionType;

namespace {

const CacheSpec read_write_256k{256 * kib, CacheMode::read_write};

struct OpeningTest {
    StateFixture state;
    DiskHeader disk;
    fs::path directory;
    fs::path path;

    explicit OpeningTest(EncryptionType type = EncryptionType::customer) {
        state.add_set("set", type);
        disk = state.create_disk("d", "set", 4 * mib);
        directory = state.temp() / "cache";
        path = CacheFile::path_for(directory, disk.uuid);
        fs::create_directories(directory);
    }

    OpenedCache open(const CacheSpec& spec, std::string& notice) {
        return open_cache_for_serving(path, disk, spec, state.providers(), "d", notice);
    }
    // Opens the cache, records `sector` in a slot (dirty or not) and closes
    // it cleanly; returns the cache's uuid.
    std::string prepare(const CacheSpec& spec, std::uint64_t sector, bool dirty) {
        std::string notice;
        OpenedCache opened = open(spec, notice);
        opened.index.publish(*opened.index.reserve(), sector, dirty, dirty ? 1 : 0);
        CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d");
        return opened.header.uuid;
    }
    DiskHeader on_disk() const { return read_newest_header(*open_storage(path), "d-cache"); }
    DiskHeader disk_now() { return read_newest_header(state.catalog().get("d")); }
    void discard(bool remove, std::string& notice) {
        discard_unwanted_cache(path, disk, "d", remove, notice);
    }
};

}  // namespace

TEST_CASE_METHOD(OpeningTest, "a cache is created when there is none", "[disk][cache_opening]") {
    std::string notice;
    const OpenedCache opened = open(read_write_256k, notice);
    CHECK(notice.empty());  // a new cache starts empty: nothing to remark
    CHECK(fs::exists(path));
    REQUIRE(opened.header.cache.has_value());
    CHECK(opened.header.cache->disk_uuid == disk.uuid);
    CHECK(opened.header.cache->mode == CacheMode::read_write);
    CHECK(opened.header.size == 256 * kib);
    CHECK(opened.index.slot_count() == 64);
    CHECK(opened.index.used_slots() == 0);
    CHECK(opened.keys.deks.size() == disk.layers.size());
    CHECK(keks_of(opened.header) == keks_of(disk));
    CHECK_FALSE(on_disk().cache->clean);  // in use
}

TEST_CASE_METHOD(OpeningTest, "a clean cache with the same setting is reused with its index",
                 "[disk][cache_opening]") {
    const CacheMode mode = GENERATE(CacheMode::read_only, CacheMode::read_write);
    const CacheSpec spec{128 * kib, mode};
    const std::string uuid = prepare(spec, 42, false);
    std::string notice = "untouched";
    const OpenedCache opened = open(spec, notice);
    CHECK(notice.empty());
    CHECK(opened.header.uuid == uuid);
    CHECK(opened.header.cache->mode == mode);
    CHECK(opened.index.used_slots() == 1);
    CHECK(opened.index.sector_of(0) == 42u);
}

TEST_CASE_METHOD(OpeningTest, "a clean cache whose mode or size changed is made afresh",
                 "[disk][cache_opening]") {
    const CacheSpec changed = GENERATE(CacheSpec{256 * kib, CacheMode::read_only},
                                       CacheSpec{512 * kib, CacheMode::read_write});
    INFO(to_string(changed.mode) << ", " << changed.size << " bytes");
    const std::string uuid = prepare(read_write_256k, 42, false);
    std::string notice;
    const OpenedCache opened = open(changed, notice);
    CHECK_THAT(notice, Contains("made afresh"));
    CHECK(opened.header.uuid != uuid);
    CHECK(opened.header.cache->mode == changed.mode);
    CHECK(opened.header.size == changed.size);
    CHECK(opened.index.used_slots() == 0);
    CHECK(fs::file_size(path) == opened.header.data_offset + changed.size);
    CHECK(on_disk().uuid == opened.header.uuid);
}

TEST_CASE_METHOD(OpeningTest, "a cache not closed cleanly is remade when its setting changed",
                 "[disk][cache_opening]") {
    const std::string uuid = prepare(read_write_256k, 42, true);
    {
        std::string notice;
        const OpenedCache crashed = open(read_write_256k, notice);  // never closed
    }
    // Its dirty sector counts for nothing: it started empty.
    std::string notice;
    const OpenedCache opened = open({256 * kib, CacheMode::read_only}, notice);
    CHECK_THAT(notice, Contains("made afresh"));
    CHECK(opened.header.uuid != uuid);
    CHECK(opened.header.cache->mode == CacheMode::read_only);
}

TEST_CASE_METHOD(OpeningTest, "a cache holding dirty data keeps its setting until written back",
                 "[disk][cache_opening]") {
    const std::string uuid = prepare(read_write_256k, 42, true);
    std::string notice;
    const OpenedCache opened = open({512 * kib, CacheMode::read_only}, notice);
    CHECK_THAT(notice, Contains("keeps its mode (read-write) and size (262144 bytes)") &&
                           Contains("holds 1 sectors not written back"));
    CHECK(opened.header.uuid == uuid);
    CHECK(opened.header.cache->mode == CacheMode::read_write);
    CHECK(opened.header.size == 256 * kib);
    CHECK(opened.index.dirty_slots() == 1);
    CHECK(opened.index.sector_of(0) == 42u);
    CHECK(fs::file_size(path) == opened.header.data_offset + 256 * kib);
}

TEST_CASE("a cache's DEKs are re-wrapped to follow its disk's rotated key versions",
          "[disk][cache_opening][keys]") {
    const EncryptionType type =
        GENERATE(EncryptionType::platform, EncryptionType::customer, EncryptionType::double_);
    INFO(keys::to_string(type));
    OpeningTest test(type);
    const std::string uuid = test.prepare(read_write_256k, 7, true);
    std::vector<std::string> deks_before;
    {
        OpenedCache opened =
            CacheFile::open(test.path, test.disk, test.state.providers(), "d-cache");
        deks_before = dek_ids_of(opened.keys.deks);
        CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d-cache");
    }
    const std::vector<std::string> before = keks_of(test.disk);

    // Rotation, as `key rotate` and the platform rotation do it: a new
    // version, the disk's header re-wrapped under it.
    Rotation rotation(test.state.catalog(), test.state.sets(), test.state.providers());
    if (type != EncryptionType::platform) {
        test.state.vault().rotate_key(vault_key);
        for (const RewrapOutcome& outcome : rotation.rewrap_following(vault_name, vault_key)) {
            CHECK(outcome.error.empty());
        }
    }
    if (type != EncryptionType::customer) {
        test.state.providers().platform().rotate();
        for (const RewrapOutcome& outcome : rotation.rewrap_platform_layers()) {
            CHECK(outcome.error.empty());
        }
    }
    test.disk = test.disk_now();
    const std::vector<std::string> after = keks_of(test.disk);
    REQUIRE(after != before);
    for (const std::string& kek : after) {
        CHECK_THAT(kek, Contains("@2"));
    }
    CHECK(keks_of(test.on_disk()) == before);  // the cache file still names the old ones

    std::string notice;
    {
        OpenedCache opened = test.open(read_write_256k, notice);
        CHECK_THAT(notice, Contains("keys re-wrapped to follow the disk's"));
        CHECK(opened.header.uuid == uuid);
        CHECK(keks_of(opened.header) == after);
        CHECK(opened.index.dirty_slots() == 1);
        CHECK(dek_ids_of(opened.keys.deks) == deks_before);
        CHECK(keks_of(test.on_disk()) == after);
        // The re-wrapped DEKs unwrap under the new versions: the same DEKs.
        CHECK(
            dek_ids_of(unwrap_disk_keys(test.on_disk(), test.state.providers(), "d-cache").deks) ==
            deks_before);
        CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d");
    }
    // Once done, nothing more to re-wrap, and the cache opens as before.
    notice.clear();
    const OpenedCache again = test.open(read_write_256k, notice);
    CHECK(notice.empty());
    CHECK(keks_of(again.header) == after);
    CHECK(again.index.dirty_slots() == 1);
    CHECK(dek_ids_of(again.keys.deks) == deks_before);
}

TEST_CASE("a disk header whose layer names another key version takes its cache along",
          "[disk][cache_opening][keys]") {
    // No rotation code: a header whose layer simply names version 2.
    OpeningTest test(EncryptionType::customer);
    test.prepare(read_write_256k, 3, false);
    test.state.vault().rotate_key(vault_key);
    DiskHeader disk = test.disk;
    disk.layers[0] = fresh_cipher_layer(test.state.providers(), disk.layers[0].kek.provider,
                                        disk.layers[0].kek.name, 2);
    REQUIRE(disk.layers[0].kek.version == 2);
    std::string notice;
    OpenedCache opened = open_cache_for_serving(test.path, disk, read_write_256k,
                                                test.state.providers(), "d", notice);
    CHECK_THAT(notice, Contains("re-wrapped"));
    CHECK(keks_of(opened.header) == keks_of(disk));
    CHECK(opened.index.used_slots() == 1);
    CHECK(keks_of(test.on_disk()) == keks_of(disk));
}

TEST_CASE(
    "a cache still opens after its disk's platform key was rotated and the old version "
    "pruned",
    "[disk][cache_opening][keys]") {
    // rotate_platform_key prunes every platform version no disk header
    // names; a cache file's header names versions too. A cache not served
    // during the rotation (its disk detached, or the daemon stopped before
    // it followed) must not lose its DEKs — and with them its dirty data.
    OpeningTest test(EncryptionType::platform);
    test.prepare(read_write_256k, 11, true);
    // As StateDirectory::rotation() makes it: the caches' directories known.
    Rotation rotation(test.state.catalog(), test.state.sets(), test.state.providers());
    rotation.keep_versions_of_caches_in({test.directory});
    const PlatformRotation rotated = rotation.rotate_platform_key(std::nullopt);
    CHECK(rotated.complete());
    CHECK(rotated.removed.empty());  // the cache still names version 1
    test.disk = test.disk_now();
    CHECK(keks_of(test.disk) == std::vector<std::string>{"platform/platform-kek@2"});
    INFO("platform versions pruned: " << rotated.removed.size());

    std::string notice;
    std::optional<OpenedCache> opened;
    try {
        opened.emplace(test.open(read_write_256k, notice));
    } catch (const std::exception& error) {
        FAIL_CHECK("the cache no longer opens: " << error.what());
    }
    if (opened) {
        CHECK(opened->index.dirty_slots() == 1);
        CHECK(keks_of(opened->header) == keks_of(test.disk));
    }
}

TEST_CASE_METHOD(OpeningTest, "a clean cache is deleted when the disk is served without one",
                 "[disk][cache_opening]") {
    prepare(read_write_256k, 42, false);
    std::string notice;
    discard(false, notice);  // a read-only daemon only looks
    CHECK(fs::exists(path));
    CHECK(notice.empty());
    discard(true, notice);
    CHECK_FALSE(fs::exists(path));
    CHECK_THAT(notice, Contains("host cache " + path.string() + " deleted"));
    // Nothing there: nothing to do.
    notice.clear();
    discard(true, notice);
    CHECK(notice.empty());
}

TEST_CASE_METHOD(OpeningTest, "a cache holding dirty data is never discarded",
                 "[disk][cache_opening][errors]") {
    const bool remove = GENERATE(true, false);
    INFO("remove: " << remove);
    prepare(read_write_256k, 42, true);
    std::string notice;
    const DiskError error = disk_error_of([&] { discard(remove, notice); });
    CHECK(error.code() == DiskErrc::cache_dirty);
    CHECK_THAT(error.what(),
               Contains("disk d") && Contains(path.string()) && Contains("holds 1 sectors"));
    CHECK(fs::exists(path));
    CHECK(notice.empty());
    CHECK(on_disk().cache->dirty_sectors == 1);
}

TEST_CASE_METHOD(OpeningTest,
                 "a cache not closed cleanly is discarded whatever dirty count it recorded",
                 "[disk][cache_opening]") {
    prepare(read_write_256k, 42, true);
    {
        std::string ignored;
        const OpenedCache crashed = open(read_write_256k, ignored);  // never closed
    }
    REQUIRE_FALSE(on_disk().cache->clean);
    std::string notice;
    discard(false, notice);
    CHECK(fs::exists(path));
    discard(true, notice);
    CHECK_FALSE(fs::exists(path));
    CHECK_THAT(notice, Contains("deleted"));
}

TEST_CASE_METHOD(OpeningTest,
                 "a disk whose cache holds dirty data is served with a cache or not "
                 "at all",
                 "[disk][cache_opening][served_disk]") {
    prepare(read_write_256k, 42, true);
    const bool read_only = GENERATE(false, true);
    INFO("read-only daemon: " << read_only);
    ServeOptions options;
    options.read_only = read_only;
    // A read-only daemon serves no cache even if one is asked for.
    options.cache =
        CacheRequest{directory, read_only ? std::optional(read_write_256k) : std::nullopt, {}};
    const DiskError error = disk_error_of(
        [&] { ServedDisk::open(state.catalog().get("d"), state.providers(), options, nullptr); });
    CHECK(error.code() == DiskErrc::cache_dirty);
    CHECK(fs::exists(path));
    CHECK(on_disk().cache->clean);
    CHECK(on_disk().cache->dirty_sectors == 1);
}

TEST_CASE_METHOD(OpeningTest, "a read-only daemon leaves a clean cache file alone",
                 "[disk][cache_opening][served_disk]") {
    prepare(read_write_256k, 42, false);
    age_file(path);
    const FileSnapshot before = snapshot_of(path);
    ServeOptions options;
    options.read_only = true;
    options.cache = CacheRequest{directory, read_write_256k, {}};
    std::string notice;
    const auto served =
        ServedDisk::open(state.catalog().get("d"), state.providers(), options, &notice);
    CHECK(served->cache() == nullptr);
    CHECK(notice.empty());
    CHECK(snapshot_of(path) == before);
}

TEST_CASE_METHOD(OpeningTest, "serving without a cache deletes a clean leftover and says so",
                 "[disk][cache_opening][served_disk]") {
    prepare(read_write_256k, 42, false);
    ServeOptions options;
    options.cache = CacheRequest{directory, std::nullopt, {}};
    std::string notice;
    const auto served =
        ServedDisk::open(state.catalog().get("d"), state.providers(), options, &notice);
    CHECK(served->cache() == nullptr);
    CHECK_FALSE(fs::exists(path));
    CHECK_THAT(notice, Contains("host cache: host cache " + path.string() + " deleted"));
}
