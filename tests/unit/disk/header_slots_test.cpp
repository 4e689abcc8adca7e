// The two header slots: sequence numbers, which slot counts, the order of
// writes, and crash safety at every byte of an update.

#include "disk/header_slots.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "disk/disk_error.hpp"
#include "disk/disk_fixture.hpp"
#include "disk/disk_header.hpp"
#include "disk/faulty_storage.hpp"
#include "disk/format_vector.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;

namespace {

constexpr const char* disk_name = "slot-disk";
constexpr std::uint64_t store_size = 64 * kib;

// Three distinguishable headers of one disk: an older one, A, and B (A re-wrapped).
DiskHeader header_old() {
    DiskHeader header = format_vector_header();
    header.layers[0].kek.version = 1;
    header.layers[0].wrapped_dek = counting_bytes(0x40, 72);
    return header;
}

DiskHeader header_a() {
    return format_vector_header();
}

DiskHeader header_b() {
    DiskHeader header = format_vector_header();
    header.layers[1].kek.version = 2;
    header.layers[1].wrapped_dek = counting_bytes(0x20, 72);
    header.rotated = parse_utc("2027-01-02T03:04:05Z");
    return header;
}

DiskHeader with_sequence(DiskHeader header, std::uint64_t sequence) {
    header.sequence = sequence;
    return header;
}

std::vector<std::byte> encoded(const DiskHeader& header) {
    return encode_header_slot(header, disk_name);
}

// The same header, sequence number included.
bool same_header(const DiskHeader& actual, const DiskHeader& expected) {
    return encoded(actual) == encoded(expected);
}

std::string describe(const DiskHeader& header) {
    return fmt::format("sequence {}, layers at {} and {}", header.sequence,
                       keys::to_string(header.layers[0].kek),
                       keys::to_string(header.layers[1].kek));
}

void put_slot(MemoryStorage& store, std::size_t index, const std::vector<std::byte>& slot) {
    store.write_at(slot, header_slot_offsets[index]);
}

void put_slot(MemoryStorage& store, std::size_t index, const DiskHeader& header) {
    put_slot(store, index, encoded(header));
}

std::vector<std::byte> damaged(const DiskHeader& header) {
    std::vector<std::byte> slot = encoded(header);
    slot[100] ^= std::byte{0x04};
    return slot;
}

std::size_t used_bytes(const DiskHeader& header) {
    const std::vector<std::byte> slot = encoded(header);
    std::size_t length = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        length |= std::to_integer<std::size_t>(slot[12 + i]) << (8 * i);
    }
    return 64 + length;
}

// Ways the two slots can be found before an update, each with A (sequence 5)
// as the newest valid header.
struct StartingState {
    std::string name;
    std::function<void(MemoryStorage&)> prepare;
};

std::vector<StartingState> starting_states() {
    const DiskHeader a = with_sequence(header_a(), 5);
    const DiskHeader old = with_sequence(header_old(), 4);
    return {
        {"both slots hold A", [=](MemoryStorage& s) { put_slot(s, 0, a), put_slot(s, 1, a); }},
        {"slot 0 holds A, slot 1 an older header",
         [=](MemoryStorage& s) { put_slot(s, 0, a), put_slot(s, 1, old); }},
        {"slot 1 holds A, slot 0 an older header",
         [=](MemoryStorage& s) { put_slot(s, 0, old), put_slot(s, 1, a); }},
        {"slot 0 damaged",
         [=](MemoryStorage& s) { put_slot(s, 0, damaged(a)), put_slot(s, 1, a); }},
        {"slot 1 empty", [=](MemoryStorage& s) { put_slot(s, 0, a); }},
    };
}

}  // namespace

TEST_CASE("a new store's first header gets sequence 1 in both slots", "[slots]") {
    MemoryStorage store(store_size);
    for (const SlotStatus& status : inspect_header_slots(store, disk_name)) {
        CHECK_FALSE(status.valid);
        CHECK_THAT(status.problem, Contains(disk_name) && Contains("empty"));
    }
    const DiskHeader written = write_header(store, header_a(), disk_name);
    CHECK(written.sequence == 1);
    for (const SlotStatus& status : inspect_header_slots(store, disk_name)) {
        CHECK(status.valid);
        CHECK(status.sequence == 1);
        CHECK(status.problem.empty());
    }
    CHECK(same_header(read_newest_header(store, disk_name), written));
}

TEST_CASE("each header update increments the sequence in both slots", "[slots]") {
    MemoryStorage store(store_size);
    for (std::uint64_t expected = 1; expected <= 4; ++expected) {
        const DiskHeader written =
            write_header(store, expected % 2 ? header_a() : header_b(), disk_name);
        CHECK(written.sequence == expected);
        const auto status = inspect_header_slots(store, disk_name);
        CHECK(status[0].sequence == expected);
        CHECK(status[1].sequence == expected);
        CHECK(same_header(read_newest_header(store, disk_name), written));
    }
}

TEST_CASE("the next sequence number follows the highest valid slot, wherever it is", "[slots]") {
    MemoryStorage store(store_size);
    const std::size_t newest = GENERATE(0u, 1u);
    put_slot(store, newest, with_sequence(header_a(), 41));
    put_slot(store, 1 - newest, with_sequence(header_old(), 17));
    CHECK(write_header(store, header_b(), disk_name).sequence == 42);
}

TEST_CASE("the header with the higher sequence is read whichever slot holds it", "[slots]") {
    MemoryStorage store(store_size);
    const std::size_t newest = GENERATE(0u, 1u);
    const std::uint64_t low = GENERATE(as<std::uint64_t>{}, 1, 0xffffffff);
    put_slot(store, newest, with_sequence(header_b(), low + 1));
    put_slot(store, 1 - newest, with_sequence(header_a(), low));
    CHECK(same_header(read_newest_header(store, disk_name), with_sequence(header_b(), low + 1)));
}

TEST_CASE("when the slot with the newest header is destroyed the other slot still opens",
          "[slots]") {
    const std::size_t newest = GENERATE(0u, 1u);
    const std::size_t other = 1 - newest;
    MemoryStorage store(store_size);
    put_slot(store, newest, with_sequence(header_b(), 9));
    put_slot(store, other, with_sequence(header_a(), 8));
    SECTION("zeroed") {
        put_slot(store, newest, std::vector<std::byte>(header_slot_size));
    }
    SECTION("overwritten with foreign data") {
        put_slot(store, newest, random_bytes(header_slot_size));
    }
    SECTION("one bit flipped") {
        put_slot(store, newest, damaged(with_sequence(header_b(), 9)));
    }
    CHECK(same_header(read_newest_header(store, disk_name), with_sequence(header_a(), 8)));
    const auto status = inspect_header_slots(store, disk_name);
    CHECK_FALSE(status[newest].valid);
    CHECK(status[other].valid);
}

TEST_CASE("after a complete update either slot alone opens the new header", "[slots]") {
    MemoryStorage store(store_size);
    write_header(store, header_a(), disk_name);
    const DiskHeader written = write_header(store, header_b(), disk_name);
    const std::size_t destroyed = GENERATE(0u, 1u);
    put_slot(store, destroyed, random_bytes(header_slot_size));
    CHECK(same_header(read_newest_header(store, disk_name), written));
}

TEST_CASE("an update writes the slot without the newest header first", "[slots][crash]") {
    // Otherwise a crash in the first write could destroy the only newest header.
    for (const StartingState& start : starting_states()) {
        INFO(start.name);
        MemoryStorage store(store_size);
        start.prepare(store);
        const auto before = inspect_header_slots(store, disk_name);
        const std::size_t newest =
            before[0].valid && (!before[1].valid || before[0].sequence >= before[1].sequence) ? 0
                                                                                              : 1;
        const auto plan = std::make_shared<FaultPlan>();
        FaultyStorage faulty(store, plan);
        write_header(faulty, header_b(), disk_name);
        REQUIRE(plan->write_offsets.size() == 2);
        CHECK(plan->write_offsets[0] == header_slot_offsets[1 - newest]);
        CHECK(plan->write_offsets[1] == header_slot_offsets[newest]);
    }
}

TEST_CASE("a crash at any byte of a header update leaves exactly the old or the new header",
          "[slots][crash]") {
    const DiskHeader a = with_sequence(header_a(), 5);
    const DiskHeader b = with_sequence(header_b(), 6);
    const std::size_t used = used_bytes(b);
    REQUIRE(used > used_bytes(a));  // so a torn B never ends in A's bytes by chance
    const std::vector<std::size_t> torn_sizes{0,
                                              1,
                                              8,
                                              63,
                                              64,
                                              65,
                                              used / 2,
                                              used - 1,
                                              used,
                                              used + 1,
                                              header_slot_size - 1,
                                              header_slot_size};
    // With lost unsynced writes, a missing sync shows: the device may have
    // kept the second write and not the first.
    const bool lose_unsynced = GENERATE(false, true);
    for (const StartingState& start : starting_states()) {
        for (const std::size_t write_index : {0u, 1u}) {
            for (const std::size_t torn : torn_sizes) {
                INFO(fmt::format("{}; crash in write {} after {} bytes{}", start.name, write_index,
                                 torn, lose_unsynced ? ", unsynced writes lost" : ""));
                MemoryStorage store(store_size);
                start.prepare(store);
                REQUIRE(same_header(read_newest_header(store, disk_name), a));

                const auto plan = std::make_shared<FaultPlan>();
                plan->fail_at = write_index;
                plan->torn_bytes = torn;
                plan->lose_unsynced = lose_unsynced;
                FaultyStorage faulty(store, plan);
                CHECK_THROWS_AS(write_header(faulty, header_b(), disk_name), SimulatedCrash);

                DiskHeader after;
                REQUIRE_NOTHROW(after = read_newest_header(store, disk_name));
                INFO("read " << describe(after));
                if (write_index == 0) {
                    CHECK((same_header(after, a) || same_header(after, b)));
                } else {
                    // The first slot was complete and synced: the update holds.
                    CHECK(same_header(after, b));
                }

                // Running the update again completes it in both slots.
                const DiskHeader retried = write_header(store, header_b(), disk_name);
                CHECK(retried.sequence > after.sequence);
                CHECK(same_header(read_newest_header(store, disk_name), retried));
                for (const SlotStatus& status : inspect_header_slots(store, disk_name)) {
                    CHECK(status.valid);
                    CHECK(status.sequence == retried.sequence);
                }
            }
        }
    }
}

TEST_CASE("with neither slot valid the most telling error is thrown", "[slots][errors]") {
    const std::vector<std::byte> zeros(header_slot_size);
    std::vector<std::byte> version_2 = encoded(header_a());
    version_2[8] = std::byte{2};
    struct Case {
        std::string name;
        std::vector<std::byte> slot0;
        std::vector<std::byte> slot1;
        DiskErrc expected;
    };
    const std::vector<Case> cases{
        {"both empty", zeros, zeros, DiskErrc::not_hostcrypt},
        {"both foreign", random_bytes(header_slot_size), random_bytes(header_slot_size),
         DiskErrc::not_hostcrypt},
        {"one empty, one damaged", zeros, damaged(header_a()), DiskErrc::bad_checksum},
        {"one damaged, one foreign", damaged(header_a()), random_bytes(header_slot_size),
         DiskErrc::bad_checksum},
        {"one of version 2, one empty", version_2, zeros, DiskErrc::unsupported_version},
        {"one of version 2, one damaged", damaged(header_a()), version_2,
         DiskErrc::unsupported_version},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        MemoryStorage store(store_size);
        put_slot(store, 0, c.slot0);
        put_slot(store, 1, c.slot1);
        const DiskError error = disk_error_of([&] { read_newest_header(store, disk_name); });
        CHECK(error.code() == c.expected);
        CHECK_THAT(error.what(), Contains(disk_name));
        for (const SlotStatus& status : inspect_header_slots(store, disk_name)) {
            CHECK_FALSE(status.valid);
            CHECK_THAT(status.problem, Contains(disk_name));
        }
    }
}

TEST_CASE("a store cut inside a header is truncated unless the other slot says more",
          "[slots][errors]") {
    const std::vector<std::byte> slot = encoded(header_a());
    struct Case {
        std::string name;
        std::vector<std::byte> slot0;  // whole
        std::size_t slot1_bytes;       // of a header, where the store ends
        DiskErrc expected;
    };
    const std::vector<Case> cases{
        {"slot 0 cut", {}, 0, DiskErrc::truncated},
        {"slot 0 empty, slot 1 cut", std::vector<std::byte>(header_slot_size), 100,
         DiskErrc::truncated},
        {"slot 0 damaged, slot 1 cut", damaged(header_a()), 100, DiskErrc::bad_checksum},
        {"slot 0 damaged, slot 1 cut inside its prefix", damaged(header_a()), 40,
         DiskErrc::bad_checksum},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        std::vector<std::byte> bytes = c.slot0;
        if (bytes.empty()) {
            bytes.assign(slot.begin(), slot.begin() + 100);  // the store ends in slot 0
        } else {
            bytes.insert(bytes.end(), slot.begin(),
                         slot.begin() + static_cast<long>(c.slot1_bytes));
        }
        MemoryStorage store(bytes.size());
        store.bytes() = bytes;
        const DiskError error = disk_error_of([&] { read_newest_header(store, disk_name); });
        CHECK(error.code() == c.expected);
        CHECK_THAT(error.what(), Contains(disk_name));
    }
}
