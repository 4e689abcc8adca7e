// Persisted disks: create, open, read and write for every encryption type and
// sector size, and every way opening or I/O can be refused.

#include "disk/disk.hpp"

#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "disk/disk_error.hpp"
#include "disk/disk_fixture.hpp"
#include "disk/disk_keys.hpp"
#include "disk/header_slots.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;
using keys::EncryptionType;

namespace {

constexpr std::uint64_t disk_size = 256 * kib;

// Writes a distinct pattern at a few places and returns what was written where.
Samples write_samples(Disk& disk, std::uint32_t sector_size) {
    Samples samples{
        {0, pattern_bytes(sector_size, 1)},
        {5 * std::uint64_t{sector_size}, pattern_bytes(3 * std::size_t{sector_size}, 2)},
        {disk_size - sector_size, pattern_bytes(sector_size, 3)},
    };
    for (const auto& [offset, data] : samples) {
        disk.write(offset, data);
    }
    disk.flush();
    return samples;
}

void check_samples(Disk& disk, const Samples& samples) {
    for (const auto& [offset, data] : samples) {
        INFO("at " << offset);
        std::vector<std::byte> read(data.size());
        disk.read(offset, read);
        CHECK(read == data);
    }
}

void check_reads_zeros(Disk& disk, std::uint64_t offset, std::size_t length) {
    std::vector<std::byte> read(length, std::byte{0xee});
    disk.read(offset, read);
    CHECK(all_zero(read));
}

void check_layers(const DiskHeader& header, EncryptionType type) {
    const std::string vault = keys::vault_provider_id(vault_name);
    switch (type) {
        case EncryptionType::platform:
            REQUIRE(header.layers.size() == 1);
            CHECK(header.layers[0].kek == keys::KeyRef{"platform", "platform-kek", 1});
            break;
        case EncryptionType::customer:
            REQUIRE(header.layers.size() == 1);
            CHECK(header.layers[0].kek == keys::KeyRef{vault, vault_key, 1});
            break;
        case EncryptionType::double_:
            REQUIRE(header.layers.size() == 2);
            CHECK(header.layers[0].kek == keys::KeyRef{vault, vault_key, 1});
            CHECK(header.layers[1].kek == keys::KeyRef{"platform", "platform-kek", 1});
            break;
    }
}

// A private file holding exactly `content`.
void write_file_of(const fs::path& path, const std::vector<std::byte>& content) {
    write_file_atomically(path, content, 0600);
}

}  // namespace

TEST_CASE("data written to a disk reads back, also after reopening with fresh providers",
          "[disk]") {
    const EncryptionType type = GENERATE(from_range(all_encryption_types));
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    INFO(keys::to_string(type) << " disk with " << sector_size << "-byte sectors");
    StateFixture state;
    state.add_set("set", type);
    const DiskHeader created = state.create_disk("d", "set", disk_size, sector_size);
    CHECK(created.size == disk_size);
    CHECK(created.sector_size == sector_size);
    CHECK(created.set_name == "set");
    CHECK(created.set_type == type);
    CHECK(created.sequence == 1);
    check_layers(created, type);
    CHECK(fs::file_size(state.backing_path("d")) == created.backing_size());

    Samples samples;
    {
        Disk disk = state.open_disk("d");
        CHECK(disk.header().uuid == created.uuid);
        CHECK(disk.keys().deks.size() == created.layers.size());
        samples = write_samples(disk, sector_size);
        check_samples(disk, samples);
        check_reads_zeros(disk, sector_size, 4 * std::size_t{sector_size});
    }
    state.reopen_providers();
    Disk disk = state.open_disk("d");
    check_samples(disk, samples);
    check_reads_zeros(disk, sector_size, 4 * std::size_t{sector_size});
}

TEST_CASE("a new sparse disk reads as zeros everywhere", "[disk]") {
    const EncryptionType type = GENERATE(from_range(all_encryption_types));
    StateFixture state;
    state.add_set("set", type);
    const DiskHeader header = state.create_disk("d", "set", disk_size, 512);
    Disk disk = state.open_disk("d");
    check_reads_zeros(disk, 0, disk_size);
    // Nothing was written to the data area: it is one hole.
    const std::vector<std::byte> backing = read_file(state.backing_path("d"));
    CHECK(all_zero(std::span(backing).subspan(header.data_offset)));
}

TEST_CASE("a preallocated disk reports its progress, reads zeros and has no holes", "[disk]") {
    const EncryptionType type = GENERATE(from_range(all_encryption_types));
    StateFixture state;
    state.add_set("set", type);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
    CreateDiskOptions options;
    options.size = 2 * mib + 8 * kib;  // two whole chunks and a part
    options.sector_size = 4096;
    options.preallocate = true;
    options.progress = [&](std::uint64_t done, std::uint64_t total) {
        progress.emplace_back(done, total);
    };
    const DiskHeader header = state.create_disk("d", "set", options);

    REQUIRE_FALSE(progress.empty());
    CHECK(progress.back() == std::make_pair(options.size, options.size));
    for (std::size_t i = 0; i < progress.size(); ++i) {
        CHECK(progress[i].second == options.size);
        if (i > 0) {
            CHECK(progress[i].first > progress[i - 1].first);
        }
    }
    Disk disk = state.open_disk("d");
    check_reads_zeros(disk, 0, options.size);
    const std::vector<std::byte> backing = read_file(state.backing_path("d"));
    REQUIRE(backing.size() == header.backing_size());
    std::size_t holes = 0;
    for (std::uint64_t offset = header.data_offset; offset < backing.size(); offset += 4096) {
        holes += all_zero(std::span(backing).subspan(offset, 4096)) ? 1u : 0u;
    }
    CHECK(holes == 0);
}

TEST_CASE("unaligned and out-of-range disk I/O is refused and writes nothing", "[disk][errors]") {
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    StateFixture state;
    state.add_set("set", EncryptionType::platform);
    state.create_disk("io-disk", "set", disk_size, sector_size);
    Disk disk = state.open_disk("io-disk");
    const std::uint64_t ss = sector_size;
    const std::uint64_t top = std::numeric_limits<std::uint64_t>::max() - ss + 1;
    struct Case {
        std::uint64_t offset;
        std::size_t length;
        const char* why;
    };
    const std::vector<Case> cases{
        {1, sector_size, "not aligned"},
        {ss / 2, sector_size, "not aligned"},
        {0, sector_size - 1, "not aligned"},
        {disk_size, sector_size, "past its end"},
        {disk_size - ss, 2 * std::size_t{sector_size}, "past its end"},
        {top, 2 * std::size_t{sector_size}, "past its end"},
        {disk_size + ss, 0, "past its end"},
    };
    const FileSnapshot before = snapshot_of(state.backing_path("io-disk"));
    for (const Case& c : cases) {
        INFO(fmt::format("{} bytes at {}", c.length, c.offset));
        std::vector<std::byte> buffer(c.length, std::byte{0x42});
        for (const DiskError& error : {disk_error_of([&] { disk.read(c.offset, buffer); }),
                                       disk_error_of([&] { disk.write(c.offset, buffer); })}) {
            CHECK(error.code() == DiskErrc::invalid_argument);
            CHECK_THAT(error.what(), Contains("io-disk") && Contains(c.why));
        }
    }
    CHECK(snapshot_of(state.backing_path("io-disk")).bytes == before.bytes);
    // The end itself, and a whole-disk read, are fine.
    std::vector<std::byte> empty;
    disk.read(disk_size, empty);
    check_reads_zeros(disk, 0, disk_size);
}

TEST_CASE("creating a disk over an existing file is refused and leaves the file untouched",
          "[disk][errors]") {
    StateFixture state;
    const keys::EncryptionSet set = state.add_set("set", EncryptionType::double_);
    const fs::path path = state.backing_path("d");
    SECTION("a file of someone else's") {
        write_file_of(path, pattern_bytes(3000, 9));
    }
    SECTION("another hostcrypt disk") {
        state.create_disk("d", "set");
    }
    const FileSnapshot before = snapshot_of(path);
    CreateDiskOptions options;
    options.size = disk_size;
    const DiskError error =
        disk_error_of([&] { Disk::create(path, "d", options, set, state.providers()); });
    CHECK(error.code() == DiskErrc::already_exists);
    CHECK_THAT(error.what(), Contains("disk d") && Contains(path.string()));
    CHECK(snapshot_of(path) == before);
}

TEST_CASE("creating a disk with a bad size or sector size is refused and creates no file",
          "[disk][errors]") {
    StateFixture state;
    const keys::EncryptionSet set = state.add_set("set", EncryptionType::platform);
    const fs::path path = state.backing_path("bad");
    CreateDiskOptions options;
    std::string expected;
    SECTION("size 0") {
        options.size = 0;
        expected = "positive multiple";
    }
    SECTION("size not a multiple of the sector size") {
        options.size = 64 * kib + 512;
        options.sector_size = 4096;
        expected = "positive multiple";
    }
    SECTION("sector size 1024") {
        options.size = 64 * kib;
        options.sector_size = 1024;
        expected = "sector size 1024";
    }
    const DiskError error =
        disk_error_of([&] { Disk::create(path, "bad", options, set, state.providers()); });
    CHECK(error.code() == DiskErrc::invalid_argument);
    CHECK_THAT(error.what(), Contains("disk bad") && Contains(expected));
    CHECK_FALSE(fs::exists(path));
}

TEST_CASE("creating a disk whose end would overflow a 64-bit offset is refused", "[disk][errors]") {
    // 2^64 - 4096 is a whole number of sectors, but data_offset + size wraps
    // to less than 1 MiB: the backing file would be tiny and writes near the
    // end of the disk would land on the header slots.
    StateFixture state;
    const keys::EncryptionSet set = state.add_set("set", EncryptionType::platform);
    const fs::path path = state.backing_path("huge");
    CreateDiskOptions options;
    options.size = std::numeric_limits<std::uint64_t>::max() - 4095;
    const DiskError error =
        disk_error_of([&] { Disk::create(path, "huge", options, set, state.providers()); });
    CHECK(error.code() == DiskErrc::invalid_argument);
    CHECK_THAT(error.what(), Contains("disk huge"));
    CHECK_FALSE(fs::exists(path));
}

TEST_CASE("opening a file of foreign data fails as not a hostcrypt disk", "[disk][errors]") {
    StateFixture state;
    const fs::path path = state.temp() / "foreign.img";
    SECTION("random data") {
        write_file_of(path, random_bytes(2 * mib));
    }
    SECTION("a zero-filled file") {
        write_file_of(path, std::vector<std::byte>(2 * mib));
    }
    const FileSnapshot before = snapshot_of(path);
    const DiskError error =
        disk_error_of([&] { Disk::open(open_storage(path), "foreign", state.providers()); });
    CHECK(error.code() == DiskErrc::not_hostcrypt);
    CHECK_THAT(error.what(), Contains("disk foreign"));
    CHECK(snapshot_of(path).bytes == before.bytes);
}

TEST_CASE("opening a small file of foreign data fails as not a hostcrypt disk", "[disk][errors]") {
    // Shorter than one header slot: the second slot is missing entirely,
    // which must not make text look like a damaged hostcrypt header.
    StateFixture state;
    const fs::path path = state.temp() / "notes.txt";
    write_text_file_atomically(path, std::string(1000, 'x') + "\n", 0600);
    const DiskError error =
        disk_error_of([&] { Disk::open(open_storage(path), "notes", state.providers()); });
    CHECK(error.code() == DiskErrc::not_hostcrypt);
    CHECK_THAT(error.what(), Contains("disk notes"));
}

TEST_CASE("opening a disk whose backing file was cut short fails with a size mismatch",
          "[disk][errors]") {
    StateFixture state;
    state.add_set("set", EncryptionType::platform);
    const DiskHeader header = state.create_disk("short", "set");
    const fs::path path = state.backing_path("short");
    // Shorter and shorter, but always with both header slots intact.
    for (const std::uint64_t cut :
         {header.backing_size() - 1, header.data_offset, 2 * header_slot_size}) {
        INFO("cut to " << cut << " bytes");
        REQUIRE(::truncate(path.c_str(), static_cast<off_t>(cut)) == 0);
        age_file(path);
        const FileSnapshot before = snapshot_of(path);
        const DiskError error = disk_error_of([&] { state.open_disk("short"); });
        CHECK(error.code() == DiskErrc::size_mismatch);
        CHECK_THAT(error.what(), Contains("disk short") &&
                                     Contains(fmt::format("is {} bytes", cut)) &&
                                     Contains(std::to_string(header.backing_size())));
        CHECK(snapshot_of(path) == before);
    }
}

TEST_CASE("a disk whose customer key is disabled does not open until it is enabled again",
          "[disk][errors]") {
    const EncryptionType type = GENERATE(EncryptionType::customer, EncryptionType::double_);
    StateFixture state;
    state.add_set("set", type);
    state.create_disk("locked", "set");
    Samples samples;
    {
        Disk disk = state.open_disk("locked");
        samples = write_samples(disk, 4096);
    }
    state.vault().set_enabled(vault_key, false);
    const fs::path path = state.backing_path("locked");
    age_file(path);
    const FileSnapshot before = snapshot_of(path);

    const DiskError error = disk_error_of([&] { state.open_disk("locked"); });
    CHECK(error.code() == DiskErrc::key_unavailable);
    CHECK_THAT(error.what(), Contains("disk locked") && Contains("disabled") &&
                                 Contains("vault:local/app-key@1"));
    CHECK(snapshot_of(path) == before);

    state.vault().set_enabled(vault_key, true);
    Disk disk = state.open_disk("locked");
    check_samples(disk, samples);
}

TEST_CASE("a header naming a key version that does not exist fails as key unavailable",
          "[disk][errors]") {
    StateFixture state;
    state.add_set("set", EncryptionType::customer);
    state.create_disk("d", "set");
    const fs::path path = state.backing_path("d");
    {
        const auto storage = open_storage(path);
        DiskHeader header = read_newest_header(*storage, "d");
        header.layers[0].kek.version = 9;
        write_header(*storage, header, "d");
    }
    const DiskError error = disk_error_of([&] { state.open_disk("d"); });
    CHECK(error.code() == DiskErrc::key_unavailable);
    CHECK_THAT(error.what(), Contains("disk d") && Contains("vault:local/app-key@9"));
}

TEST_CASE("a header carrying another disk's wrapped key under a different key fails to unwrap",
          "[disk][errors]") {
    StateFixture state;
    const EncryptionType type = GENERATE(EncryptionType::platform, EncryptionType::customer);
    INFO(keys::to_string(type));
    state.add_set("set", type);
    state.create_disk("victim", "set");
    // The donor's DEK is wrapped by version 2 of the same key.
    if (type == EncryptionType::platform) {
        state.providers().platform().rotate();
    } else {
        state.vault().rotate_key(vault_key);
    }
    state.create_disk("donor", "set");

    const fs::path path = state.backing_path("victim");
    {
        const auto donor = open_storage(state.backing_path("donor"));
        const auto victim = open_storage(path);
        DiskHeader header = read_newest_header(*victim, "victim");
        const DiskHeader donor_header = read_newest_header(*donor, "donor");
        REQUIRE(donor_header.layers[0].kek.version == 2);
        header.layers[0].wrapped_dek = donor_header.layers[0].wrapped_dek;
        write_header(*victim, header, "victim");
    }
    age_file(path);
    const FileSnapshot before = snapshot_of(path);
    const DiskError error = disk_error_of([&] { state.open_disk("victim"); });
    CHECK(error.code() == DiskErrc::unwrap_failed);
    CHECK_THAT(error.what(), Contains("disk victim") && Contains("@1"));
    CHECK(snapshot_of(path) == before);
}

TEST_CASE("opening a disk writes nothing to its backing file", "[disk]") {
    const EncryptionType type = GENERATE(from_range(all_encryption_types));
    StateFixture state;
    state.add_set("set", type);
    state.create_disk("d", "set");
    {
        Disk disk = state.open_disk("d");
        write_samples(disk, 4096);
    }
    const fs::path path = state.backing_path("d");
    age_file(path);
    const FileSnapshot before = snapshot_of(path);
    {
        Disk disk = state.open_disk("d");
        std::vector<std::byte> sector(4096);
        disk.read(0, sector);
    }
    CHECK(snapshot_of(path) == before);
}

TEST_CASE("disk key health reports each layer: a disabled customer key and a usable platform key",
          "[disk][health]") {
    StateFixture state;
    state.add_set("dbl", EncryptionType::double_);
    state.add_set("plat", EncryptionType::platform);
    const DiskHeader dbl = state.create_disk("dbl-disk", "dbl");
    const DiskHeader plat = state.create_disk("plat-disk", "plat");

    auto health = disk_key_health(dbl, state.providers());
    REQUIRE(health.size() == 2);
    CHECK(health[0].usable());
    CHECK(health[1].usable());

    state.vault().set_enabled(vault_key, false);
    health = disk_key_health(dbl, state.providers());
    REQUIRE(health.size() == 2);
    CHECK(health[0].state == keys::KeyState::disabled);
    CHECK_THAT(health[0].reason, Contains("app-key"));
    CHECK(health[1].usable());
    const auto platform_health = disk_key_health(plat, state.providers());
    REQUIRE(platform_health.size() == 1);
    CHECK(platform_health[0].usable());

    state.vault().set_enabled(vault_key, true);
    health = disk_key_health(dbl, state.providers());
    CHECK(health[0].usable());
}

TEST_CASE("disk key health reports a missing vault or version as not found", "[disk][health]") {
    StateFixture state;
    state.add_set("dbl", EncryptionType::double_);
    DiskHeader header = state.create_disk("d", "dbl");
    SECTION("a vault that does not exist") {
        header.layers[0].kek.provider = "vault:gone";
    }
    SECTION("a key version that does not exist") {
        header.layers[0].kek.version = 5;
    }
    SECTION("a platform version that does not exist") {
        header.layers[1].kek.version = 5;
        const auto health = disk_key_health(header, state.providers());
        CHECK(health[0].usable());
        CHECK(health[1].state == keys::KeyState::not_found);
        return;
    }
    const auto health = disk_key_health(header, state.providers());
    REQUIRE(health.size() == 2);
    CHECK(health[0].state == keys::KeyState::not_found);
    CHECK(health[1].usable());
}
