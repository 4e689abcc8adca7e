// KeySlot: the generation counter moves on every install and revoke, a
// snapshot says which keys (or why none) at which generation, and keys a
// snapshot took stay alive after the slot lets go of them.

#include "disk/key_slot.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "crypto/secure_bytes.hpp"
#include "disk/disk_keys.hpp"

using namespace hostcrypt;
using disk::DiskKeys;
using disk::KeySlot;

namespace {

std::shared_ptr<const DiskKeys> make_keys(std::size_t layers, std::uint32_t sector_size = 4096) {
    DiskKeys keys;
    keys.sector_size = sector_size;
    for (std::size_t i = 0; i < layers; ++i) {
        keys.deks.push_back(crypto::SecureBytes::random(64));
    }
    return std::make_shared<const DiskKeys>(std::move(keys));
}

}  // namespace

TEST_CASE("a new key slot is at generation 1 with its keys", "[disk][key_slot]") {
    const auto keys = make_keys(2);
    const KeySlot slot(keys);
    CHECK(slot.generation() == 1);
    const KeySlot::Snapshot snapshot = slot.snapshot();
    CHECK(snapshot.keys == keys);
    CHECK(snapshot.generation == 1);
    CHECK(snapshot.revoked_reason.empty());
}

TEST_CASE("install and revoke each move the generation by one", "[disk][key_slot]") {
    KeySlot slot(make_keys(1));
    const auto rotated = make_keys(1);
    slot.install(rotated);
    CHECK(slot.generation() == 2);
    CHECK(slot.snapshot().keys == rotated);
    CHECK(slot.snapshot().generation == 2);

    slot.revoke("vault:local/app-key@1 is disabled");
    CHECK(slot.generation() == 3);
    const KeySlot::Snapshot revoked = slot.snapshot();
    CHECK(revoked.keys == nullptr);
    CHECK(revoked.generation == 3);
    CHECK(revoked.revoked_reason == "vault:local/app-key@1 is disabled");

    // Revoking again still moves the counter and replaces the reason.
    slot.revoke("vault:local/app-key@1 was deleted");
    CHECK(slot.generation() == 4);
    CHECK(slot.snapshot().revoked_reason == "vault:local/app-key@1 was deleted");

    // Installing usable keys again clears the reason.
    const auto restored = make_keys(1);
    slot.install(restored);
    const KeySlot::Snapshot after = slot.snapshot();
    CHECK(after.keys == restored);
    CHECK(after.generation == 5);
    CHECK(after.revoked_reason.empty());
}

TEST_CASE("a snapshot taken before a revoke keeps its keys alive until it is dropped",
          "[disk][key_slot]") {
    std::weak_ptr<const DiskKeys> watch;
    std::vector<std::byte> first_dek;
    KeySlot slot = [&] {
        auto keys = make_keys(2);
        watch = keys;
        const auto bytes = keys->deks[0].bytes();
        first_dek.assign(bytes.begin(), bytes.end());
        return KeySlot(std::move(keys));
    }();
    REQUIRE(watch.use_count() == 1);  // the slot's copy only

    std::optional<KeySlot::Snapshot> before = slot.snapshot();
    slot.revoke("revoked by test");
    CHECK_FALSE(watch.expired());
    REQUIRE(before->keys != nullptr);
    CHECK(before->generation == 1);
    CHECK(before->keys->sector_size == 4096);
    REQUIRE(before->keys->deks.size() == 2);
    CHECK(before->keys->deks[0].equals(first_dek));

    before.reset();
    CHECK(watch.expired());
}

TEST_CASE("a thread that sees the generation move sees the new snapshot", "[disk][key_slot]") {
    KeySlot slot(make_keys(1));
    const auto next = make_keys(2);
    std::atomic<bool> go{false};
    std::thread installer([&] {
        while (!go.load()) {
            std::this_thread::yield();
        }
        slot.install(next);
    });
    go.store(true);
    while (slot.generation() == 1) {
        std::this_thread::yield();
    }
    const KeySlot::Snapshot snapshot = slot.snapshot();
    installer.join();
    CHECK(snapshot.generation == 2);
    CHECK(snapshot.keys == next);
}
