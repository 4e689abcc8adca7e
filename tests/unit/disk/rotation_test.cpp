// Rotation: re-wrapping DEKs under newer key versions, idempotently, and
// surviving an interruption at any write.

#include "disk/rotation.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "disk/disk_error.hpp"
#include "disk/disk_fixture.hpp"
#include "disk/disk_header.hpp"
#include "disk/disk_keys.hpp"
#include "disk/faulty_storage.hpp"
#include "disk/header_slots.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;
using keys::EncryptionType;
using keys::KeyRef;

namespace {

const KeyRef platform_v1{"platform", "platform-kek", 1};
const KeyRef platform_v2{"platform", "platform-kek", 2};
const KeyRef vault_v1{"vault:local", "app-key", 1};
const KeyRef vault_v2{"vault:local", "app-key", 2};

// The disks of one state directory and the data written to each.
struct Disks {
    StateFixture state;
    std::map<std::string, Samples> data;

    // Creates a disk of `set` and writes a pattern of its own into it.
    void add(const std::string& name, const std::string& set, std::uint32_t sector_size = 4096) {
        state.create_disk(name, set, 128 * kib, sector_size);
        Disk disk = state.open_disk(name);
        const auto seed = static_cast<unsigned>(data.size() + 1);
        Samples samples{{0, pattern_bytes(sector_size, seed)},
                        {64 * kib, pattern_bytes(2 * std::size_t{sector_size}, seed + 10)}};
        for (const auto& [offset, bytes] : samples) {
            disk.write(offset, bytes);
        }
        disk.flush();
        data[name] = std::move(samples);
    }

    DiskHeader header(const std::string& name) {
        const auto storage = storage::FileStorage::open(state.catalog().get(name).path,
                                                        storage::FileStorage::Mode::read_only);
        return read_newest_header(*storage, name);
    }

    std::vector<KeyRef> keks(const std::string& name) {
        std::vector<KeyRef> refs;
        for (const CipherLayer& layer : header(name).layers) {
            refs.push_back(layer.kek);
        }
        return refs;
    }

    // Every disk opens and reads back exactly what was written to it.
    void check_data() {
        for (const auto& [name, samples] : data) {
            INFO("disk " << name);
            Disk disk = state.open_disk(name);
            for (const auto& [offset, bytes] : samples) {
                std::vector<std::byte> read(bytes.size());
                disk.read(offset, read);
                CHECK(read == bytes);
            }
        }
    }

    Rotation rotation(StorageOpener opener = open_backing_for_update) {
        return Rotation(state.catalog(), state.sets(), state.providers(), std::move(opener));
    }
};

std::vector<std::string> names_of(const std::vector<RewrapOutcome>& outcomes) {
    std::vector<std::string> names;
    for (const RewrapOutcome& outcome : outcomes) {
        names.push_back(outcome.disk);
    }
    return names;
}

void check_no_errors(const std::vector<RewrapOutcome>& outcomes) {
    for (const RewrapOutcome& outcome : outcomes) {
        INFO("disk " << outcome.disk);
        CHECK(outcome.error.empty());
    }
}

const RewrapOutcome& outcome_of(const std::vector<RewrapOutcome>& outcomes,
                                const std::string& disk) {
    for (const RewrapOutcome& outcome : outcomes) {
        if (outcome.disk == disk) {
            return outcome;
        }
    }
    FAIL("no outcome for disk " << disk);
    throw std::logic_error("unreachable");
}

// Three disks: one of each type.
void add_one_of_each(Disks& disks) {
    disks.state.add_set("plat", EncryptionType::platform);
    disks.state.add_set("cust", EncryptionType::customer);
    disks.state.add_set("dbl", EncryptionType::double_);
    disks.add("p", "plat");
    disks.add("c", "cust", 512);
    disks.add("d", "dbl");
}

}  // namespace

TEST_CASE("after a vault key rotation its following disks are re-wrapped under version 2",
          "[rotation]") {
    Disks disks;
    add_one_of_each(disks);
    std::vector<std::vector<std::byte>> deks_before;
    {
        Disk disk = disks.state.open_disk("d");
        for (const auto& dek : disk.keys().deks) {
            deks_before.push_back(copy_of(dek.bytes()));
        }
    }
    const DiskHeader d_before = disks.header("d");
    CHECK(disks.state.vault().rotate_key(vault_key).versions.size() == 2);

    const auto outcomes = disks.rotation().rewrap_following(vault_name, vault_key);
    CHECK(names_of(outcomes) == std::vector<std::string>{"c", "d"});
    check_no_errors(outcomes);
    const RewrapOutcome& c = outcome_of(outcomes, "c");
    CHECK(c.changed);
    CHECK(c.before == std::vector<KeyRef>{vault_v1});
    CHECK(c.after == std::vector<KeyRef>{vault_v2});
    const RewrapOutcome& d = outcome_of(outcomes, "d");
    CHECK(d.changed);
    CHECK(d.before == std::vector<KeyRef>{vault_v1, platform_v1});
    CHECK(d.after == std::vector<KeyRef>{vault_v2, platform_v1});

    CHECK(disks.keks("p") == std::vector<KeyRef>{platform_v1});
    CHECK(disks.keks("c") == std::vector<KeyRef>{vault_v2});
    CHECK(disks.keks("d") == std::vector<KeyRef>{vault_v2, platform_v1});
    const DiskHeader d_after = disks.header("d");
    CHECK(d_after.sequence == d_before.sequence + 1);
    CHECK(d_after.rotated);
    CHECK(d_after.uuid == d_before.uuid);
    CHECK(d_after.layers[0].wrapped_dek != d_before.layers[0].wrapped_dek);
    CHECK(d_after.layers[1].wrapped_dek == d_before.layers[1].wrapped_dek);

    // The DEKs themselves, and so the data, are unchanged.
    disks.check_data();
    disks.state.reopen_providers();
    disks.check_data();
    Disk disk = disks.state.open_disk("d");
    REQUIRE(disk.keys().deks.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(disk.keys().deks[i].equals(deks_before[i]));
    }
}

TEST_CASE("after a platform key rotation every platform layer is re-wrapped under version 2",
          "[rotation]") {
    Disks disks;
    add_one_of_each(disks);
    CHECK(disks.state.providers().platform().rotate().version == 2);

    const auto outcomes = disks.rotation().rewrap_platform_layers();
    CHECK(names_of(outcomes) == std::vector<std::string>{"d", "p"});
    check_no_errors(outcomes);
    CHECK(outcome_of(outcomes, "p").changed);
    CHECK(outcome_of(outcomes, "d").after == std::vector<KeyRef>{vault_v1, platform_v2});

    CHECK(disks.keks("p") == std::vector<KeyRef>{platform_v2});
    CHECK(disks.keks("c") == std::vector<KeyRef>{vault_v1});
    CHECK(disks.keks("d") == std::vector<KeyRef>{vault_v1, platform_v2});
    disks.check_data();
    disks.state.reopen_providers();
    disks.check_data();
}

TEST_CASE("a pinned set is left alone by auto-rotation and follows its pin in rewrap_set",
          "[rotation]") {
    Disks disks;
    keys::EncryptionSet pinned = disks.state.add_set("pinned", EncryptionType::customer, 1);
    disks.add("pin", "pinned");
    disks.state.vault().rotate_key(vault_key);

    const auto following = disks.rotation().rewrap_following(vault_name, vault_key);
    CHECK(following.empty());
    CHECK(disks.keks("pin") == std::vector<KeyRef>{vault_v1});

    pinned.key_version = 2;
    disks.state.sets().update(pinned);
    auto outcomes = disks.rotation().rewrap_set("pinned");
    REQUIRE(names_of(outcomes) == std::vector<std::string>{"pin"});
    check_no_errors(outcomes);
    CHECK(outcomes[0].changed);
    CHECK(disks.keks("pin") == std::vector<KeyRef>{vault_v2});
    disks.check_data();

    // A pin back to an older version is honoured as well.
    pinned.key_version = 1;
    disks.state.sets().update(pinned);
    outcomes = disks.rotation().rewrap_set("pinned");
    CHECK(outcomes.at(0).changed);
    CHECK(disks.keks("pin") == std::vector<KeyRef>{vault_v1});
    disks.check_data();
}

TEST_CASE("rewrap_set of an unknown set is not found", "[rotation][errors]") {
    Disks disks;
    add_one_of_each(disks);
    try {
        disks.rotation().rewrap_set("nope");
        FAIL("expected a KeysError");
    } catch (const keys::KeysError& error) {
        CHECK(error.code() == keys::KeysErrc::not_found);
        CHECK_THAT(error.what(), Contains("nope"));
    }
}

TEST_CASE("running a rotation again changes nothing", "[rotation]") {
    Disks disks;
    add_one_of_each(disks);
    disks.state.vault().rotate_key(vault_key);
    disks.state.providers().platform().rotate();
    disks.rotation().rewrap_platform_layers();
    disks.rotation().rewrap_following(vault_name, vault_key);

    std::map<std::string, FileSnapshot> before;
    for (const char* name : {"p", "c", "d"}) {
        age_file(disks.state.backing_path(name));
        before[name] = snapshot_of(disks.state.backing_path(name));
    }
    std::vector<RewrapOutcome> again = disks.rotation().rewrap_platform_layers();
    for (RewrapOutcome& outcome : disks.rotation().rewrap_following(vault_name, vault_key)) {
        again.push_back(std::move(outcome));
    }
    for (RewrapOutcome& outcome : disks.rotation().rewrap_set("dbl")) {
        again.push_back(std::move(outcome));
    }
    CHECK(again.size() == 5);
    check_no_errors(again);
    for (const RewrapOutcome& outcome : again) {
        INFO("disk " << outcome.disk);
        CHECK_FALSE(outcome.changed);
        CHECK(outcome.before == outcome.after);
    }
    for (const char* name : {"p", "c", "d"}) {
        INFO("disk " << name);
        CHECK(snapshot_of(disks.state.backing_path(name)) == before[name]);
    }
}

TEST_CASE("once no disk uses platform version 1 it can be pruned and every disk still opens",
          "[rotation]") {
    Disks disks;
    add_one_of_each(disks);
    CHECK(disks.rotation().platform_versions_in_use() == std::set<std::uint32_t>{1});

    keys::PlatformKeyStore& platform = disks.state.providers().platform();
    platform.rotate();
    CHECK(disks.rotation().platform_versions_in_use() == std::set<std::uint32_t>{1});
    CHECK(platform.prune(disks.rotation().platform_versions_in_use()).empty());

    check_no_errors(disks.rotation().rewrap_platform_layers());
    const auto in_use = disks.rotation().platform_versions_in_use();
    CHECK(in_use == std::set<std::uint32_t>{2});
    CHECK(platform.prune(in_use) == std::vector<std::uint32_t>{1});

    disks.check_data();
    disks.state.reopen_providers();
    CHECK(disks.state.providers().platform().versions().size() == 1);
    disks.check_data();
}

TEST_CASE("one disk that cannot be re-wrapped does not stop the others", "[rotation][errors]") {
    Disks disks;
    add_one_of_each(disks);
    disks.state.catalog().add(
        {"lost", disks.state.temp() / "missing.img", "plat", disks.state.now, ""});
    disks.state.providers().platform().rotate();

    const auto outcomes = disks.rotation().rewrap_platform_layers();
    CHECK(names_of(outcomes) == std::vector<std::string>{"d", "lost", "p"});
    const RewrapOutcome& lost = outcome_of(outcomes, "lost");
    CHECK_FALSE(lost.changed);
    CHECK_THAT(lost.error, Contains("missing.img"));
    CHECK(outcome_of(outcomes, "p").changed);
    CHECK(outcome_of(outcomes, "d").changed);
    CHECK(outcome_of(outcomes, "p").error.empty());
    CHECK(disks.keks("p") == std::vector<KeyRef>{platform_v2});
}

namespace {

// Three disks with data, both key kinds rotated, ready for a rotation that
// changes every one of them.
void prepare_interrupted_rotation(Disks& disks) {
    disks.state.add_set("plat", EncryptionType::platform);
    disks.state.add_set("dbl", EncryptionType::double_);
    disks.add("a", "plat");
    disks.add("b", "dbl", 512);
    disks.add("c", "dbl");
    disks.state.providers().platform().rotate();
    disks.state.vault().rotate_key(vault_key);
}

std::vector<RewrapOutcome> rotate_everything(Rotation rotation) {
    std::vector<RewrapOutcome> outcomes = rotation.rewrap_platform_layers();
    for (RewrapOutcome& outcome : rotation.rewrap_following(vault_name, vault_key)) {
        outcomes.push_back(std::move(outcome));
    }
    return outcomes;
}

StorageOpener faulty_opener(std::shared_ptr<FaultPlan> plan) {
    return [plan](const fs::path& path) -> std::unique_ptr<storage::Storage> {
        return std::make_unique<FaultyStorage>(open_backing_for_update(path), plan);
    };
}

// How many writes a whole rotation makes, counted on a run without faults.
std::size_t writes_of_a_rotation() {
    Disks disks;
    prepare_interrupted_rotation(disks);
    const auto plan = std::make_shared<FaultPlan>();
    check_no_errors(rotate_everything(disks.rotation(faulty_opener(plan))));
    return plan->writes;
}

const std::vector<std::size_t> torn_sizes{0, 1, 64, header_slot_size / 2, header_slot_size};

}  // namespace

TEST_CASE("a rotation interrupted at any write leaves every disk readable and can be resumed",
          "[rotation][crash]") {
    const std::size_t total_writes = writes_of_a_rotation();
    CHECK(total_writes == 6);  // two header slots for each of the three disks
    for (std::size_t fail_at = 0; fail_at < total_writes; ++fail_at) {
        for (const std::size_t torn : torn_sizes) {
            INFO(fmt::format("crash in write {} after {} bytes", fail_at, torn));
            Disks disks;
            prepare_interrupted_rotation(disks);
            const auto plan = std::make_shared<FaultPlan>();
            plan->fail_at = fail_at;
            plan->torn_bytes = torn;
            plan->lose_unsynced = true;
            const auto interrupted = rotate_everything(disks.rotation(faulty_opener(plan)));
            CHECK(plan->crashed);
            bool reported = false;
            for (const RewrapOutcome& outcome : interrupted) {
                reported = reported || outcome.error.find("simulated crash") != std::string::npos;
            }
            CHECK(reported);

            // Whatever the crash left, every disk opens on one of its headers.
            disks.check_data();
            disks.state.reopen_providers();
            disks.check_data();

            // Running the rotation again finishes it.
            check_no_errors(rotate_everything(disks.rotation()));
            CHECK(disks.keks("a") == std::vector<KeyRef>{platform_v2});
            CHECK(disks.keks("b") == std::vector<KeyRef>{vault_v2, platform_v2});
            CHECK(disks.keks("c") == std::vector<KeyRef>{vault_v2, platform_v2});
            disks.check_data();
            for (const RewrapOutcome& outcome : rotate_everything(disks.rotation())) {
                CHECK_FALSE(outcome.changed);
            }
        }
    }
}

TEST_CASE("after an interrupted rotation is resumed and pruned, either header slot still opens",
          "[rotation][crash]") {
    // docs/format.md: "a re-wrap keeps the old key-encryption key versions
    // available until no header names them, [so] either header opens". A
    // crash between the two slot writes leaves the old header in one slot;
    // once the rotation is resumed and unused versions pruned, that slot
    // must still open, or it is no fallback at all.
    const std::size_t total_writes = writes_of_a_rotation();
    for (std::size_t fail_at = 0; fail_at < total_writes; ++fail_at) {
        INFO(fmt::format("crash before write {}", fail_at));
        Disks disks;
        prepare_interrupted_rotation(disks);
        const auto plan = std::make_shared<FaultPlan>();
        plan->fail_at = fail_at;
        plan->torn_bytes = 0;
        rotate_everything(disks.rotation(faulty_opener(plan)));
        check_no_errors(rotate_everything(disks.rotation()));
        disks.state.providers().platform().prune(disks.rotation().platform_versions_in_use());

        for (const auto& [name, samples] : disks.data) {
            const auto storage = open_storage(disks.state.backing_path(name));
            for (std::size_t slot = 0; slot < 2; ++slot) {
                std::vector<std::byte> bytes(header_slot_size);
                storage->read_at(bytes, header_slot_offsets[slot]);
                try {
                    const DiskHeader header = decode_header_slot(bytes, name);
                    for (const keys::KeyHealth& health :
                         disk_key_health(header, disks.state.providers())) {
                        INFO("disk " << name << ", slot " << slot << ", sequence "
                                     << header.sequence);
                        CHECK(health.reason == "");
                    }
                } catch (const DiskError&) {
                    // A slot torn by the crash is no header at all.
                }
            }
        }
    }
}
