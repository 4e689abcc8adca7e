// TempDisk: a sparse file with no header, a fresh DEK per creation wrapped
// under the platform key in memory only, and crypto-erase (key dropped, file
// removed) when it is erased or destroyed.

#include "disk/temp_disk.hpp"

#include <sys/stat.h>

#include "common/hex.hpp"
#include "disk/dek_id.hpp"
#include "disk/disk_fixture.hpp"
#include "keys/keys_error.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;

namespace {

struct TempDiskTest {
    StateFixture state;
    fs::path directory = state.temp() / "temp";

    TempDiskTest() { fs::create_directories(directory); }

    TempDisk make(const std::string& instance = "vm1", TempDiskSpec spec = {4 * mib, 4096}) {
        return TempDisk::create(temp_file_path(directory, instance), instance + "/temp", spec,
                                state.providers().platform(), {});
    }
};

// Blocks of the file that hold data (a sparse file holds none).
std::uint64_t allocated_bytes(const fs::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

}  // namespace

TEST_CASE_METHOD(TempDiskTest, "a temp disk is a sparse headerless file under a fresh key",
                 "[disk][temp_disk]") {
    const TempDisk temp = make();
    const auto& served = temp.served();
    REQUIRE(served != nullptr);
    CHECK(served->name() == "vm1/temp");
    CHECK(served->tier() == Tier::temp);
    CHECK(served->persisted() == nullptr);
    CHECK(served->size() == 4 * mib);
    CHECK(served->sector_size() == 4096);
    CHECK(served->data_offset() == 0);
    CHECK_THAT(served->description(), Contains("temp disk"));

    CHECK(temp.path() == directory / "vm1.temp");
    CHECK(fs::file_size(temp.path()) == 4 * mib);
    CHECK(allocated_bytes(temp.path()) == 0);
    CHECK((fs::status(temp.path()).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));

    CHECK(temp.wrapped_by().provider == keys::platform_provider);
    CHECK(temp.wrapped_by().version ==
          state.providers().platform().latest_version(keys::platform_key_name));
    const KeySlot::Snapshot keys = served->keys().snapshot();
    REQUIRE(keys.keys != nullptr);
    REQUIRE(keys.keys->deks.size() == 1);
    CHECK(temp.dek_id() == dek_id(keys.keys->deks.front()));
    CHECK(temp.dek_id().size() == 16);
}

TEST_CASE_METHOD(TempDiskTest, "every temp disk gets its own key", "[disk][temp_disk]") {
    TempDisk first = make("vm1");
    const std::string first_id = first.dek_id();
    TempDisk second = make("vm2");
    CHECK(first_id != second.dek_id());
    first.erase();
    // The same instance again: a new file and a new key.
    const TempDisk again = make("vm1");
    CHECK(again.dek_id() != first_id);
}

TEST_CASE_METHOD(TempDiskTest, "a temp disk replaces the file an earlier life left",
                 "[disk][temp_disk]") {
    const fs::path path = temp_file_path(directory, "vm1");
    write_file_atomically(path, pattern_bytes(64 * kib, 7), 0600);
    const TempDisk temp = make();
    CHECK(fs::file_size(path) == 4 * mib);
    CHECK(allocated_bytes(path) == 0);  // nothing of the old content remains
}

TEST_CASE_METHOD(TempDiskTest, "erasing a temp disk drops its key and removes its file",
                 "[disk][temp_disk]") {
    TempDisk temp = make();
    const std::shared_ptr<ServedDisk> served = temp.served();  // as a connection would hold it
    const fs::path path = temp.path();
    CHECK(temp.erase().empty());
    CHECK_FALSE(fs::exists(path));
    CHECK(served->keys().snapshot().keys == nullptr);
    CHECK_THAT(served->keys().snapshot().revoked_reason, Contains("erased"));
    CHECK(temp.served() == nullptr);
    CHECK(temp.dek_id().empty());
    CHECK(temp.erase().empty());  // again: nothing to do
}

TEST_CASE_METHOD(TempDiskTest, "a destroyed temp disk is erased", "[disk][temp_disk]") {
    std::shared_ptr<ServedDisk> served;
    fs::path path;
    {
        const TempDisk temp = make();
        served = temp.served();
        path = temp.path();
    }
    CHECK_FALSE(fs::exists(path));
    CHECK(served->keys().snapshot().keys == nullptr);
}

TEST_CASE_METHOD(TempDiskTest, "a temp disk's key follows the platform key's rotation",
                 "[disk][temp_disk]") {
    TempDisk temp = make();
    const std::string id = temp.dek_id();
    const std::uint32_t before = temp.wrapped_by().version;
    temp.rewrap(state.providers().platform());
    CHECK(temp.wrapped_by().version == before);  // newest already: nothing to do
    state.providers().platform().rotate();
    temp.rewrap(state.providers().platform());
    CHECK(temp.wrapped_by().version == before + 1);
    CHECK(temp.dek_id() == id);  // the same DEK, wrapped anew
}

TEST_CASE_METHOD(TempDiskTest, "a temp disk of a bad geometry is refused",
                 "[disk][temp_disk][errors]") {
    const TempDiskSpec spec = GENERATE(TempDiskSpec{0, 4096}, TempDiskSpec{4 * mib + 512, 4096},
                                       TempDiskSpec{4 * mib, 1024});
    const DiskError error = disk_error_of([&] { make("vm1", spec); });
    CHECK(error.code() == DiskErrc::invalid_argument);
    CHECK_THAT(error.what(), Contains("vm1/temp"));
    CHECK_FALSE(fs::exists(temp_file_path(directory, "vm1")));
}

TEST_CASE_METHOD(TempDiskTest, "stale temp files are discarded and nothing else",
                 "[disk][temp_disk]") {
    write_file_atomically(directory / "vm1.temp", pattern_bytes(4 * kib, 1), 0600);
    write_file_atomically(directory / "vm2.temp", pattern_bytes(4 * kib, 2), 0600);
    write_file_atomically(directory / "notes.txt", pattern_bytes(16, 3), 0600);
    CHECK(discard_stale_temp_files(directory) == 2);
    CHECK_FALSE(fs::exists(directory / "vm1.temp"));
    CHECK(fs::exists(directory / "notes.txt"));
    CHECK(discard_stale_temp_files(state.temp() / "missing") == 0);
}

TEST_CASE("a DEK id is stable, short and differs between keys", "[disk][dek_id]") {
    const crypto::SecureBytes a = fresh_dek();
    const crypto::SecureBytes b = fresh_dek();
    CHECK(dek_id(a) == dek_id(a));
    CHECK(dek_id(a) != dek_id(b));
    CHECK(dek_id(a).size() == 16);
    // Not a prefix of the key itself.
    CHECK(dek_id(a) != to_hex(a.bytes().first(8)));
}
