// HelpingHands: which other reactor, if any, takes a connection's large
// step — never for small steps, a busy or full helper, or revoked keys — and
// the helper's cipher: the disk's current keys, and never rebuilt while a
// step still uses it on the helper's thread.

#include "daemon/helping_hands.hpp"

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "disk/disk_fixture.hpp"

using namespace hostcrypt;
using daemon::HelpingHands;
using daemon::LendingPolicy;
using disk::test::StateFixture;

namespace {

constexpr std::size_t large = std::size_t{128} << 10;
constexpr std::uint32_t sector_size = 4096;

struct Lending {
    StateFixture state;
    std::shared_ptr<disk::ServedDisk> disk;
    io::Reactor home{0};
    io::Reactor helper{1};
    std::vector<io::Reactor*> reactors{&home, &helper};

    explicit Lending(keys::EncryptionType type = keys::EncryptionType::platform) {
        state.add_set("set", type);
        state.create_disk("lent", "set", 1 << 20, sector_size);
        disk = disk::ServedDisk::open(state.catalog().get("lent"), state.providers(), {}, nullptr);
        // Home has other requests to get on with (the policy's default).
        home.own_request_began();
        home.own_request_began();
    }
};

// What `cipher` makes of one sector of a fixed pattern at sector 7.
std::vector<std::byte> sealed_by(crypto::CipherStack& cipher) {
    std::vector<std::byte> sector(sector_size);
    for (std::size_t i = 0; i < sector.size(); ++i) {
        sector[i] = static_cast<std::byte>(i * 31);
    }
    cipher.encrypt(sector, 7);
    return sector;
}

// Whether `hands` lends a step of `bytes` now; a hand it lends is given
// back at once.
bool lends(HelpingHands& hands, std::size_t bytes) {
    const HelpingHands::Hand hand = hands.borrow(bytes);
    if (hand) {
        hands.give_back(hand);
    }
    return static_cast<bool>(hand);
}

std::vector<std::byte> sealed_by_current_keys(disk::ServedDisk& disk) {
    crypto::CipherStack cipher = disk.keys().snapshot().keys->make_cipher();
    return sealed_by(cipher);
}

}  // namespace

TEST_CASE("a large step is lent to the other reactor with the disk's cipher",
          "[daemon][helping_hands]") {
    const keys::EncryptionType type =
        GENERATE(keys::EncryptionType::platform, keys::EncryptionType::double_);
    Lending lending(type);
    HelpingHands hands(lending.home, lending.reactors, *lending.disk, {});

    const HelpingHands::Hand hand = hands.borrow(large);
    REQUIRE(hand);
    CHECK(hand.reactor == &lending.helper);
    REQUIRE(hand.cipher != nullptr);
    CHECK(sealed_by(*hand.cipher) == sealed_by_current_keys(*lending.disk));
    hands.give_back(hand);
}

TEST_CASE("with lending switched off every step stays home", "[daemon][helping_hands]") {
    Lending lending;
    HelpingHands hands(lending.home, lending.reactors, *lending.disk, {.enabled = false});
    CHECK_FALSE(hands.borrow(large));
    // The helper took no guest: a limit of one still admits the next.
    CHECK(lending.helper.admit_guest(1));
    lending.helper.guest_left();
}

TEST_CASE("small steps, a lone reactor and a busy or full helper keep the step home",
          "[daemon][helping_hands]") {
    Lending lending;
    const LendingPolicy policy{.min_bytes = 32 << 10, .guest_limit = 2, .busy_at = 3};
    HelpingHands hands(lending.home, lending.reactors, *lending.disk, policy);

    SECTION("a step smaller than the policy's minimum") {
        CHECK_FALSE(hands.borrow(policy.min_bytes - 1));
        CHECK(lends(hands, policy.min_bytes));
    }
    SECTION("home has nothing else to do") {
        lending.home.own_request_ended();
        CHECK_FALSE(hands.borrow(large));
        lending.home.own_request_began();
        CHECK(lends(hands, large));
    }
    SECTION("no other reactor") {
        const std::vector<io::Reactor*> alone{&lending.home};
        HelpingHands lonely(lending.home, alone, *lending.disk, policy);
        CHECK_FALSE(lonely.borrow(large));
    }
    SECTION("a helper with as many guests as the limit") {
        const HelpingHands::Hand first = hands.borrow(large);
        const HelpingHands::Hand second = hands.borrow(large);
        REQUIRE(first);
        REQUIRE(second);
        CHECK_FALSE(hands.borrow(large));
        hands.give_back(first);
        CHECK(lends(hands, large));
        hands.give_back(second);
    }
    SECTION("a helper busy with requests of its own") {
        for (unsigned i = 0; i < policy.busy_at; ++i) {
            lending.helper.own_request_began();
        }
        CHECK_FALSE(hands.borrow(large));
        lending.helper.own_request_ended();
        CHECK(lends(hands, large));
    }
}

TEST_CASE("nothing is lent while the disk's keys are revoked", "[daemon][helping_hands]") {
    Lending lending;
    HelpingHands hands(lending.home, lending.reactors, *lending.disk, {});
    const std::shared_ptr<const disk::DiskKeys> keys = lending.disk->keys().snapshot().keys;

    lending.disk->keys().revoke("the customer key was disabled");
    CHECK_FALSE(hands.borrow(large));

    lending.disk->keys().install(keys);
    const HelpingHands::Hand hand = hands.borrow(large);
    REQUIRE(hand);
    CHECK(sealed_by(*hand.cipher) == sealed_by_current_keys(*lending.disk));
    hands.give_back(hand);
}

TEST_CASE("a helper's cipher is not rebuilt while a step still uses it",
          "[daemon][helping_hands]") {
    Lending lending;
    HelpingHands hands(lending.home, lending.reactors, *lending.disk, {});
    const HelpingHands::Hand out = hands.borrow(large);
    REQUIRE(out);
    crypto::CipherStack* in_use = out.cipher;
    const std::vector<std::byte> before = sealed_by(*in_use);

    // The keys change (here: the same keys installed again, a new
    // generation) while the step is out: no new step is lent meanwhile, and
    // the one out keeps a cipher that still works.
    lending.disk->keys().install(lending.disk->keys().snapshot().keys);
    CHECK_FALSE(hands.borrow(large));
    CHECK(sealed_by(*in_use) == before);

    hands.give_back(out);
    const HelpingHands::Hand next = hands.borrow(large);
    REQUIRE(next);
    CHECK(sealed_by(*next.cipher) == sealed_by_current_keys(*lending.disk));
    hands.give_back(next);
}

TEST_CASE("a step out when the keys are revoked sees it and nothing more is lent",
          "[daemon][helping_hands]") {
    Lending lending;
    HelpingHands hands(lending.home, lending.reactors, *lending.disk, {});
    const HelpingHands::Hand out = hands.borrow(large);
    REQUIRE(out);
    CHECK(hands.keys_unchanged(out));

    lending.disk->keys().revoke("the customer key was disabled");
    CHECK_FALSE(hands.keys_unchanged(out));  // the helper leaves it to home
    CHECK_FALSE(hands.borrow(large));
    hands.give_back(out);
    CHECK_FALSE(hands.borrow(large));
}

TEST_CASE("steps go to the helpers in turn, past a busy one", "[daemon][helping_hands]") {
    Lending lending;
    io::Reactor third{2};
    const std::vector<io::Reactor*> reactors{&lending.home, &lending.helper, &third};
    HelpingHands hands(lending.home, reactors, *lending.disk, {});

    const HelpingHands::Hand first = hands.borrow(large);
    const HelpingHands::Hand second = hands.borrow(large);
    REQUIRE(first);
    REQUIRE(second);
    CHECK(first.reactor != second.reactor);
    hands.give_back(first);
    hands.give_back(second);

    for (unsigned i = 0; i < LendingPolicy{}.busy_at; ++i) {
        third.own_request_began();
    }
    for (int i = 0; i < 3; ++i) {
        const HelpingHands::Hand hand = hands.borrow(large);
        REQUIRE(hand);
        CHECK(hand.reactor == &lending.helper);
        hands.give_back(hand);
    }
}
