// ServedDisk::open: the daemon's view of a catalog disk — geometry from its
// header, keys unwrapped into a key slot, the backing store opened for the
// ring — and its refusal of a disk whose key is unusable.

#include "disk/served_disk.hpp"

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "disk/disk_fixture.hpp"
#include "disk/sector_codec.hpp"
#include "storage/test_ring.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;
using keys::EncryptionType;
using storage::test::TestRing;

namespace {

std::shared_ptr<ServedDisk> serve(StateFixture& state, const std::string& name,
                                  const ServeOptions& options = {}, std::string* notice = nullptr) {
    return ServedDisk::open(state.catalog().get(name), state.providers(), options, notice);
}

// A disk of `type` in a set of its own; returns its backing file.
fs::path add_disk(StateFixture& state, const std::string& name, EncryptionType type) {
    state.add_set(name + "-set", type);
    state.create_disk(name, name + "-set");
    return state.backing_path(name);
}

std::size_t layer_count(EncryptionType type) {
    return type == EncryptionType::double_ ? 2 : 1;
}

}  // namespace

TEST_CASE("a served disk has its header's geometry and keys and backing store",
          "[disk][served_disk]") {
    const EncryptionType type = GENERATE(EncryptionType::platform, EncryptionType::double_);
    const std::uint32_t sector_size = GENERATE(512u, 4096u);
    INFO(keys::to_string(type) << " disk of " << sector_size << "-byte sectors");
    StateFixture state;
    state.add_set("set", type);
    const DiskHeader created = state.create_disk("served", "set", 384 * kib, sector_size);
    const fs::path path = state.backing_path("served");
    age_file(path);
    const FileSnapshot before = snapshot_of(path);

    std::string notice = "untouched";
    const auto disk = serve(state, "served", {}, &notice);
    CHECK(disk->name() == "served");
    CHECK(disk->size() == 384 * kib);
    CHECK(disk->sector_size() == sector_size);
    CHECK(disk->data_offset() == created.data_offset);
    CHECK(disk->data_offset() == default_data_offset);
    REQUIRE(disk->persisted() != nullptr);
    CHECK(disk->tier() == Tier::persisted);
    CHECK(disk->persisted()->header().uuid == created.uuid);
    CHECK(disk->persisted()->entry().name == "served");
    CHECK_FALSE(disk->read_only());
    CHECK(notice == "untouched");  // nothing worth a log line

    CHECK(disk->backend().name() == path.string());
    CHECK(disk->backend().size() == default_data_offset + 384 * kib);
    CHECK_FALSE(disk->backend().direct_io());

    CHECK(disk->keys().generation() == 1);
    const KeySlot::Snapshot keys = disk->keys().snapshot();
    REQUIRE(keys.keys != nullptr);
    CHECK(keys.keys->sector_size == sector_size);
    CHECK(keys.keys->deks.size() == layer_count(type));
    CHECK(keys.revoked_reason.empty());

    // Opening wrote nothing.
    CHECK(snapshot_of(path) == before);
}

TEST_CASE("sectors read through a served disk's backend decrypt with its keys",
          "[disk][served_disk]") {
    StateFixture state;
    add_disk(state, "d", EncryptionType::double_);
    const std::vector<std::byte> data = pattern_bytes(3 * 4096, 7);
    {
        Disk disk = state.open_disk("d");
        disk.write(5 * 4096, data);
        disk.flush();
    }
    const auto disk = serve(state, "d");
    crypto::CipherStack cipher = disk->keys().snapshot().keys->make_cipher();

    TestRing ring;
    std::vector<std::byte> read(4 * 4096, std::byte{0xee});
    CHECK(ring.run([&](io_uring_sqe* sqe) {
        disk->backend().prepare_read(sqe, read, disk->data_offset() + 4 * 4096);
    }) == 4 * 4096);
    decrypt_sectors(cipher, read, 4);
    const std::span<const std::byte> bytes(read);
    CHECK(all_zero(bytes.first(4096)));  // sector 4 was never written: a hole
    CHECK(copy_of(bytes.subspan(4096)) == data);
}

TEST_CASE("a disk served read-only refuses writes on its backend", "[disk][served_disk]") {
    StateFixture state;
    add_disk(state, "ro", EncryptionType::platform);
    ServeOptions options;
    options.read_only = true;
    const auto disk = serve(state, "ro", options);
    CHECK(disk->read_only());

    TestRing ring;
    const std::vector<std::byte> data(4096, std::byte{1});
    CHECK(ring.run([&](io_uring_sqe* sqe) {
        disk->backend().prepare_write(sqe, data, disk->data_offset());
    }) == -EBADF);
    std::vector<std::byte> read(4096);
    CHECK(ring.run([&](io_uring_sqe* sqe) {
        disk->backend().prepare_read(sqe, read, disk->data_offset());
    }) == 4096);
}

TEST_CASE("a served disk uses O_DIRECT where the store accepts its sectors",
          "[disk][served_disk]") {
    StateFixture state;
    const fs::path path = add_disk(state, "direct", EncryptionType::platform);
    const auto probe = storage::test::probe_direct_io(path.string());
    ServeOptions options;
    options.direct_io = true;
    std::string notice;
    const auto disk = serve(state, "direct", options, &notice);

    const bool expected = probe.accepts(4096);
    INFO("O_DIRECT opens: " << probe.opens);
    CHECK(disk->backend().direct_io() == expected);
    if (expected) {
        CHECK(notice.empty());
    } else {
        CHECK_THAT(notice, Contains("O_DIRECT not used for " + path.string() + ": "));
    }
}

TEST_CASE("a disk whose vault key is disabled is not served", "[disk][served_disk][errors]") {
    const EncryptionType type = GENERATE(EncryptionType::customer, EncryptionType::double_);
    StateFixture state;
    const fs::path path = add_disk(state, "locked", type);
    state.vault().set_enabled(vault_key, false);
    age_file(path);
    const FileSnapshot before = snapshot_of(path);

    std::string notice = "untouched";
    const DiskError error = disk_error_of([&] { serve(state, "locked", {}, &notice); });
    CHECK(error.code() == DiskErrc::key_unavailable);
    CHECK_THAT(error.what(), Contains("disk locked") && Contains("disabled") &&
                                 Contains("vault:local/app-key@1"));
    CHECK(notice == "untouched");
    CHECK(snapshot_of(path) == before);

    state.vault().set_enabled(vault_key, true);
    CHECK(serve(state, "locked")->keys().snapshot().keys->deks.size() == layer_count(type));
}

TEST_CASE("a catalog entry whose backing file is gone is not served and the error names the path",
          "[disk][served_disk][errors]") {
    StateFixture state;
    const fs::path path = add_disk(state, "gone", EncryptionType::platform);
    fs::remove(path);
    const Error error = hostcrypt::test::thrown<Error>([&] { serve(state, "gone"); });
    CHECK_THAT(error.what(), Contains(path.string()) && Contains("No such file or directory"));
}
