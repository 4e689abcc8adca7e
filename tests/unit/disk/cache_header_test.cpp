// The header of a host cache file: the disk header's slot and fields, format
// "hostcrypt-cache" and the cache's own fields — and never taken for a disk.

#include <catch2/catch.hpp>

#include "disk/disk_fixture.hpp"
#include "disk/format_vector.hpp"
#include "disk/header_slots.hpp"
#include "disk/served_disk.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;

namespace {

DiskHeader cache_header() {
    DiskHeader header = format_vector_header();
    header.size = 256 * 4096;
    header.sector_size = 4096;
    header.data_offset = 1 << 20;
    header.cache = CacheMetadata{"6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7",
                                 CacheMode::read_write,
                                 2 * header_slot_size,
                                 true,
                                 std::string(64, 'a'),
                                 3};
    return header;
}

}  // namespace

TEST_CASE("a cache header reads back with its cache fields", "[disk][cache_header]") {
    const DiskHeader written = cache_header();
    const std::vector<std::byte> slot = encode_header_slot(written, "c");
    const std::string text(reinterpret_cast<const char*>(slot.data()) + 64, 400);
    CHECK_THAT(text, Contains("\"format\":\"hostcrypt-cache\""));
    const DiskHeader read = decode_header_slot(slot, "c");
    REQUIRE(read.cache.has_value());
    CHECK(*read.cache == *written.cache);
    CHECK(read.layers.size() == written.layers.size());
    CHECK_FALSE(decode_header_slot(encode_header_slot(format_vector_header(), "d"), "d").cache);
}

TEST_CASE("a cache header whose index does not fit is invalid", "[disk][cache_header][errors]") {
    DiskHeader header = cache_header();
    header.cache->index_offset = header_slot_size;  // over the second slot
    CHECK_THAT(disk_error_of([&] { encode_header_slot(header, "c"); }).what(),
               Contains("does not fit between the header slots and the data area"));
    header = cache_header();
    header.data_offset = 2 * header_slot_size + 4096;  // 256 entries need 4096 bytes: fits
    CHECK_NOTHROW(encode_header_slot(header, "c"));
    header.size = 257 * 4096;  // one more entry does not
    CHECK_THAT(disk_error_of([&] { encode_header_slot(header, "c"); }).what(),
               Contains("4112 bytes needed"));
    header = cache_header();
    header.cache->dirty_sectors = 257;
    CHECK_THAT(disk_error_of([&] { encode_header_slot(header, "c"); }).what(),
               Contains("257 dirty sectors in a cache of 256"));
    header = cache_header();
    header.cache->disk_uuid = "nope";
    CHECK_THAT(disk_error_of([&] { encode_header_slot(header, "c"); }).what(),
               Contains("cached disk UUID 'nope' is malformed"));
}

TEST_CASE("a cache file is never opened as a disk", "[disk][cache_header][errors]") {
    StateFixture state;
    state.add_set("set", keys::EncryptionType::platform);
    state.create_disk("d1", "set");
    const fs::path path = state.backing_path("d1");
    {
        // Make its header a cache header, as if the path led to a cache file.
        const auto storage =
            storage::FileStorage::open(path, storage::FileStorage::Mode::read_write);
        DiskHeader header = read_newest_header(*storage, "d1");
        header.cache =
            CacheMetadata{header.uuid, CacheMode::read_only, 2 * header_slot_size, false, "", 0};
        write_header(*storage, header, "d1");
    }
    const DiskError error = disk_error_of([&] { state.open_disk("d1"); });
    CHECK(error.code() == DiskErrc::not_hostcrypt);
    CHECK_THAT(error.what(), Contains("is a host cache file"));
    const DiskError served = disk_error_of(
        [&] { ServedDisk::open(state.catalog().get("d1"), state.providers(), {}, nullptr); });
    CHECK(served.code() == DiskErrc::not_hostcrypt);
}
