// CacheFile: a cache's own keys under its disk's kind of key, and when its
// content may be trusted — after a clean close, not after a crash, not with
// a damaged index, and never without its key.

#include "disk/cache_file.hpp"

#include "disk/dek_id.hpp"
#include "disk/disk_fixture.hpp"
#include "disk/header_slots.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;
using keys::EncryptionType;

namespace {

struct CacheTest {
    StateFixture state;
    DiskHeader disk;
    fs::path path;

    explicit CacheTest(EncryptionType type = EncryptionType::customer) {
        state.add_set("set", type);
        disk = state.create_disk("d1", "set", 4 * mib);
        path = CacheFile::path_for(state.temp() / "cache", disk.uuid);
        fs::create_directories(path.parent_path());
    }

    DiskHeader create(CacheMode mode = CacheMode::read_write, std::uint64_t size = 256 * kib) {
        return CacheFile::create(path, disk, {size, mode}, state.providers(), "d1-cache");
    }
    OpenedCache open() { return CacheFile::open(path, disk, state.providers(), "d1-cache"); }
    DiskHeader on_disk() { return read_newest_header(*open_storage(path), "d1-cache"); }
    // Flips one byte of the stored index.
    void damage_index() {
        const auto storage = open_storage(path);
        std::vector<std::byte> byte(1);
        const std::uint64_t at = on_disk().cache->index_offset + 3;
        storage->read_at(byte, at);
        byte[0] ^= std::byte{0x40};
        storage->write_at(byte, at);
    }
};

}  // namespace

TEST_CASE("a cache has its own keys, wrapped like its disk's", "[disk][cache_file]") {
    const EncryptionType type =
        GENERATE(EncryptionType::platform, EncryptionType::customer, EncryptionType::double_);
    INFO(keys::to_string(type));
    CacheTest test(type);
    const DiskHeader cache = test.create(CacheMode::read_only);
    REQUIRE(cache.cache.has_value());
    CHECK(cache.cache->disk_uuid == test.disk.uuid);
    CHECK(cache.cache->mode == CacheMode::read_only);
    CHECK(cache.cache->clean);
    CHECK(cache.uuid != test.disk.uuid);
    CHECK(cache.size == 256 * kib);
    CHECK(cache.sector_size == test.disk.sector_size);
    CHECK(cache.data_offset % (1 << 20) == 0);
    CHECK(fs::file_size(test.path) == cache.data_offset + 256 * kib);
    REQUIRE(cache.layers.size() == test.disk.layers.size());
    for (std::size_t i = 0; i < cache.layers.size(); ++i) {
        CHECK(cache.layers[i].kek == test.disk.layers[i].kek);
        CHECK(cache.layers[i].wrapped_dek != test.disk.layers[i].wrapped_dek);
    }
    const std::vector<std::string> cache_ids = dek_ids_of(test.open().keys.deks);
    const std::vector<std::string> disk_ids = dek_ids_of(test.state.open_disk("d1").keys().deks);
    for (const std::string& id : cache_ids) {
        CHECK(std::find(disk_ids.begin(), disk_ids.end(), id) == disk_ids.end());
    }
}

TEST_CASE_METHOD(CacheTest, "a cache closed cleanly is found as it was, dirty sectors included",
                 "[disk][cache_file]") {
    create();
    OpenedCache opened = open();
    CHECK(opened.notice.empty());
    CHECK(opened.index.used_slots() == 0);
    CHECK_FALSE(on_disk().cache->clean);  // in use
    opened.index.publish(*opened.index.reserve(), 5, true, 1);
    opened.index.publish(*opened.index.reserve(), 9, false, 0);
    CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d1-cache");
    CHECK(on_disk().cache->clean);
    CHECK(on_disk().cache->dirty_sectors == 1);

    const OpenedCache again = open();
    CHECK(again.notice.empty());
    CHECK(again.index.used_slots() == 2);
    CHECK(again.index.dirty_slots() == 1);
    CHECK(again.index.sector_of(0) == 5u);
}

TEST_CASE_METHOD(CacheTest, "a cache not closed cleanly starts empty", "[disk][cache_file]") {
    create();
    {
        OpenedCache opened = open();
        opened.index.publish(*opened.index.reserve(), 5, true, 1);
        CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d1-cache");
    }
    { const OpenedCache crashed = open(); }  // opened, then never closed
    const OpenedCache after = open();
    CHECK_THAT(after.notice, Contains("not closed cleanly"));
    CHECK(after.index.used_slots() == 0);
}

TEST_CASE_METHOD(CacheTest, "a damaged index without unwritten data is discarded",
                 "[disk][cache_file][errors]") {
    create();
    {
        OpenedCache opened = open();
        opened.index.publish(*opened.index.reserve(), 5, false, 0);
        CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d1-cache");
    }
    damage_index();
    const OpenedCache after = open();
    CHECK_THAT(after.notice, Contains("index checksum does not match: discarded, starts empty"));
    CHECK(after.index.used_slots() == 0);
}

TEST_CASE_METHOD(CacheTest, "a damaged index hiding unwritten data is an error, not a loss",
                 "[disk][cache_file][errors]") {
    create();
    {
        OpenedCache opened = open();
        opened.index.publish(*opened.index.reserve(), 5, true, 1);
        CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d1-cache");
    }
    damage_index();
    const DiskError error = disk_error_of([&] { open(); });
    CHECK(error.code() == DiskErrc::corrupt);
    CHECK_THAT(error.what(), Contains("holds 1 sectors not yet written to the disk"));
    CHECK(on_disk().cache->clean);  // left as it was, for someone to look at
}

TEST_CASE_METHOD(CacheTest, "a cache whose key is revoked waits for it, dirty data and all",
                 "[disk][cache_file][errors]") {
    create();
    {
        OpenedCache opened = open();
        opened.index.publish(*opened.index.reserve(), 5, true, 1);
        CacheFile::close_clean(*opened.storage, opened.header, opened.index, "d1-cache");
    }
    state.vault().set_enabled(vault_key, false);
    const DiskError error = disk_error_of([&] { open(); });
    CHECK(error.code() == DiskErrc::key_unavailable);
    CHECK_THAT(error.what(), Contains("d1-cache"));
    state.vault().set_enabled(vault_key, true);
    const OpenedCache after = open();
    CHECK(after.index.dirty_slots() == 1);
}

TEST_CASE_METHOD(CacheTest, "a cache file is only ever the cache of its own disk",
                 "[disk][cache_file][errors]") {
    CHECK(disk_error_of([&] { open(); }).code() == DiskErrc::not_found);
    create();
    CHECK(disk_error_of([&] { create(); }).code() == DiskErrc::already_exists);
    state.create_disk("d2", "set", 4 * mib);
    const DiskHeader other = read_newest_header(state.catalog().get("d2"));
    const DiskError error =
        disk_error_of([&] { CacheFile::open(path, other, state.providers(), "d2-cache"); });
    CHECK(error.code() == DiskErrc::corrupt);
    CHECK_THAT(error.what(), Contains("is not a cache of disk " + other.uuid));
    CHECK(disk_error_of([&] { create(CacheMode::read_only, 1000); }).code() ==
          DiskErrc::invalid_argument);
}
