#include "daemon/key_monitor.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "keys/keys_string_makers.hpp"

using namespace hostcrypt::daemon;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using hostcrypt::parse_utc;
using hostcrypt::TimePoint;
using hostcrypt::keys::KeyHealth;
using hostcrypt::keys::KeyState;

namespace Catch {
template <>
struct StringMaker<KeyStatus> {
    static std::string convert(KeyStatus status) { return to_string(status); }
};
template <>
struct StringMaker<KeyAction> {
    static std::string convert(KeyAction action) {
        switch (action) {
            case KeyAction::none:
                return "none";
            case KeyAction::revoke:
                return "revoke";
            case KeyAction::restore:
                return "restore";
        }
        return "?";
    }
};
}  // namespace Catch

namespace {

// Checks every 1s, 10s of grace, 1m of tolerance for an unreachable provider.
KeyMonitorConfig test_config() {
    KeyMonitorConfig config;
    config.check_interval = 1s;
    config.revocation_grace = 10s;
    config.unreachable_tolerance = 60s;
    return config;
}

const TimePoint t0 = parse_utc("2026-11-23T09:00:00Z");

const std::string disabled_reason = "key k1 in vault local was disabled; enable it to use it again";
const std::string deleted_reason = "key k1 in vault local was deleted at 2026-11-23T09:00:05Z";
const std::string unreachable_reason = "vault remote did not answer: timed out";

const KeyHealth usable{KeyState::usable, ""};
const KeyHealth disabled{KeyState::disabled, disabled_reason};
const KeyHealth deleted{KeyState::deleted, deleted_reason};
const KeyHealth expired{KeyState::expired, "key k2 in vault local expired at 2026-11-01T00:00:00Z"};
const KeyHealth unreachable{KeyState::unreachable, unreachable_reason};

using Layers = std::vector<KeyHealth>;

struct Monitor {
    KeyMonitorConfig config = test_config();
    DiskKeyState state;

    // Both clocks moving together, as they do unless someone sets the
    // system clock.
    KeyAction observe(const Layers& layers, TimePoint now) {
        return observe_keys(state, layers, {now, monotonic_at(now)}, config);
    }
    KeyAction observe(const Layers& layers, CheckTime now) {
        return observe_keys(state, layers, now, config);
    }
    static hostcrypt::BootClock::time_point monotonic_at(TimePoint wall) {
        return hostcrypt::BootClock::time_point(std::chrono::hours(1000) + (wall - t0));
    }
};

void check_serving(const DiskKeyState& state) {
    CHECK(state.status == KeyStatus::serving);
    CHECK(state.since == std::nullopt);
    CHECK(state.deadline == std::nullopt);
    CHECK(state.monotonic_deadline == std::nullopt);
    CHECK(state.reason.empty());
}

const std::string grace_reason = disabled_reason + "; I/O stops when the 10s grace period ends";
const std::string unreachable_state_reason =
    "key provider unreachable, serving for up to 1m: " + unreachable_reason;

}  // namespace

TEST_CASE("key statuses have names", "[key-monitor]") {
    CHECK(std::string(to_string(KeyStatus::serving)) == "serving");
    CHECK(std::string(to_string(KeyStatus::grace)) == "grace");
    CHECK(std::string(to_string(KeyStatus::unreachable)) == "unreachable");
    CHECK(std::string(to_string(KeyStatus::revoked)) == "revoked");
}

TEST_CASE("the key monitor defaults are 60s 1h and 4h", "[key-monitor]") {
    const KeyMonitorConfig defaults;
    CHECK(defaults.check_interval == 60s);
    CHECK(defaults.revocation_grace == 1h);
    CHECK(defaults.unreachable_tolerance == 4h);
    const DiskKeyState fresh;
    check_serving(fresh);
}

TEST_CASE("a disk whose keys are usable keeps serving", "[key-monitor]") {
    Monitor monitor;
    CHECK(monitor.observe({usable}, t0) == KeyAction::none);
    check_serving(monitor.state);
    CHECK(monitor.observe({usable, usable}, t0 + 1h) == KeyAction::none);
    check_serving(monitor.state);
    CHECK(monitor.observe({}, t0 + 2h) == KeyAction::none);
    check_serving(monitor.state);
}

TEST_CASE("an unusable key starts the grace period", "[key-monitor]") {
    Monitor monitor;
    CHECK(monitor.observe({disabled}, t0) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::grace);
    CHECK(monitor.state.since == t0);
    CHECK(monitor.state.deadline == t0 + 10s);
    CHECK_THAT(monitor.state.reason, Equals(grace_reason));
    CHECK_THAT(monitor.state.reason, Contains(disabled_reason));

    for (const KeyHealth& bad : {deleted, expired, KeyHealth{KeyState::not_found, "no k9"},
                                 KeyHealth{KeyState::not_yet_valid, "k1 not before 2027"}}) {
        INFO(bad.reason);
        Monitor other;
        CHECK(other.observe({bad}, t0) == KeyAction::none);
        CHECK(other.state.status == KeyStatus::grace);
        CHECK(other.state.deadline == t0 + 10s);
        CHECK_THAT(other.state.reason,
                   Equals(bad.reason + "; I/O stops when the 10s grace period ends"));
    }
}

TEST_CASE("during the grace period nothing happens", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    for (const auto offset : {1s, 5s, 9s}) {
        INFO(offset.count());
        CHECK(monitor.observe({disabled}, t0 + offset) == KeyAction::none);
        CHECK(monitor.state.status == KeyStatus::grace);
        CHECK(monitor.state.since == t0);
        CHECK(monitor.state.deadline == t0 + 10s);
        CHECK_THAT(monitor.state.reason, Equals(grace_reason));
    }
    CHECK(monitor.observe({disabled}, t0 + 10s - 1ns) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::grace);
}

TEST_CASE("at the end of the grace period the disk is revoked", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    CHECK(monitor.observe({disabled}, t0 + 10s) == KeyAction::revoke);
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK(monitor.state.since == t0 + 10s);
    CHECK(monitor.state.deadline == std::nullopt);
    CHECK(monitor.state.monotonic_deadline == std::nullopt);
    CHECK_THAT(monitor.state.reason, Equals(disabled_reason));
}

TEST_CASE("setting the system clock neither cuts the grace period short nor stretches it",
          "[key-monitor]") {
    Monitor monitor;
    const auto m0 = Monitor::monotonic_at(t0);
    monitor.observe({disabled}, CheckTime{t0, m0});
    // The wall clock jumps a day ahead 5 s later: 5 s of grace are gone, not all.
    CHECK(monitor.observe({disabled}, CheckTime{t0 + 24h, m0 + 5s}) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::grace);
    CHECK(monitor.state.deadline == t0 + 10s);  // as people were told
    // Then a day back, and further: the grace period still ends 10 s in.
    CHECK(monitor.observe({disabled}, CheckTime{t0 - 1h, m0 + 10s - 1ns}) == KeyAction::none);
    CHECK(monitor.observe({disabled}, CheckTime{t0 - 1h, m0 + 10s}) == KeyAction::revoke);
    CHECK(monitor.state.status == KeyStatus::revoked);
}

TEST_CASE("setting the system clock neither cuts the unreachable tolerance short nor stretches it",
          "[key-monitor]") {
    Monitor monitor;
    const auto m0 = Monitor::monotonic_at(t0);
    monitor.observe({unreachable}, CheckTime{t0, m0});
    CHECK(monitor.observe({unreachable}, CheckTime{t0 + 24h, m0 + 1min - 1ns}) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::unreachable);
    CHECK(monitor.observe({unreachable}, CheckTime{t0 - 24h, m0 + 1min}) == KeyAction::revoke);
}

TEST_CASE("a check long after the grace period revokes at once", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    CHECK(monitor.observe({disabled}, t0 + 1h) == KeyAction::revoke);
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK(monitor.state.since == t0 + 1h);
}

TEST_CASE("a revoked disk stays revoked and is revoked only once", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    monitor.observe({disabled}, t0 + 10s);
    CHECK(monitor.observe({disabled}, t0 + 11s) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK(monitor.state.since == t0 + 10s);
    CHECK_THAT(monitor.state.reason, Equals(disabled_reason));
}

TEST_CASE("a revoked disk takes the newest reason but not an unreachable one", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    monitor.observe({disabled}, t0 + 10s);
    CHECK(monitor.observe({deleted}, t0 + 20s) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK_THAT(monitor.state.reason, Equals(deleted_reason));
    CHECK(monitor.observe({unreachable}, t0 + 30s) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK_THAT(monitor.state.reason, Equals(deleted_reason));
    CHECK(monitor.state.since == t0 + 10s);
}

TEST_CASE("a revoked disk whose keys are usable again is restored by the caller", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    monitor.observe({disabled}, t0 + 10s);
    CHECK(monitor.observe({usable}, t0 + 20s) == KeyAction::restore);
    // Unchanged until the caller has unwrapped the keys and reset the state.
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK(monitor.state.since == t0 + 10s);
    CHECK_THAT(monitor.state.reason, Equals(disabled_reason));
    // A caller that has not reset it is told again.
    CHECK(monitor.observe({usable}, t0 + 21s) == KeyAction::restore);
    monitor.state = DiskKeyState{};
    CHECK(monitor.observe({usable}, t0 + 22s) == KeyAction::none);
    check_serving(monitor.state);
}

TEST_CASE("a restore that fails keeps the disk revoked and says why", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    monitor.observe({disabled}, t0 + 10s);
    REQUIRE(monitor.observe({usable}, t0 + 20s) == KeyAction::restore);
    restore_failed(monitor.state, "authentication failed");
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK(monitor.state.since == t0 + 10s);
    CHECK(monitor.state.deadline == std::nullopt);
    CHECK_THAT(monitor.state.reason,
               Equals("the keys are usable but the disk's keys do not unwrap: authentication "
                      "failed"));
    // The next check tries again.
    CHECK(monitor.observe({usable}, t0 + 21s) == KeyAction::restore);
}

TEST_CASE("a usable key during the grace period ends it", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    CHECK(monitor.observe({usable}, t0 + 5s) == KeyAction::none);
    check_serving(monitor.state);
    // A later problem starts a fresh grace period.
    CHECK(monitor.observe({disabled}, t0 + 7s) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::grace);
    CHECK(monitor.state.since == t0 + 7s);
    CHECK(monitor.state.deadline == t0 + 17s);
    CHECK(monitor.observe({disabled}, t0 + 12s) == KeyAction::none);
}

TEST_CASE("an unreachable provider starts the tolerance and not the grace", "[key-monitor]") {
    Monitor monitor;
    CHECK(monitor.observe({unreachable}, t0) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::unreachable);
    CHECK(monitor.state.since == t0);
    CHECK(monitor.state.deadline == t0 + 60s);
    CHECK_THAT(monitor.state.reason, Equals(unreachable_state_reason));
}

TEST_CASE("an unreachable provider within the tolerance changes nothing", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({unreachable}, t0);
    for (const auto offset : {10s, 30s, 59s}) {
        INFO(offset.count());
        CHECK(monitor.observe({unreachable}, t0 + offset) == KeyAction::none);
        CHECK(monitor.state.status == KeyStatus::unreachable);
        CHECK(monitor.state.since == t0);
        CHECK(monitor.state.deadline == t0 + 60s);
    }
}

TEST_CASE("an unreachable provider past the tolerance revokes", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({unreachable}, t0);
    CHECK(monitor.observe({unreachable}, t0 + 60s) == KeyAction::revoke);
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK(monitor.state.since == t0 + 60s);
    CHECK(monitor.state.deadline == std::nullopt);
    CHECK_THAT(monitor.state.reason,
               Equals("key provider unreachable for more than 1m: " + unreachable_reason));
    // Reachable and usable again: restore.
    CHECK(monitor.observe({usable}, t0 + 61s) == KeyAction::restore);
}

TEST_CASE("a provider that answers again with usable keys ends the tolerance", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({unreachable}, t0);
    CHECK(monitor.observe({usable}, t0 + 30s) == KeyAction::none);
    check_serving(monitor.state);
}

TEST_CASE("a provider that answers again with disabled starts the grace", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({unreachable}, t0);
    CHECK(monitor.observe({disabled}, t0 + 30s) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::grace);
    CHECK(monitor.state.since == t0 + 30s);
    CHECK(monitor.state.deadline == t0 + 40s);
    CHECK_THAT(monitor.state.reason, Equals(grace_reason));
    // The grace runs from the answer, not from the first unreachable check.
    CHECK(monitor.observe({disabled}, t0 + 39s) == KeyAction::none);
    CHECK(monitor.observe({disabled}, t0 + 40s) == KeyAction::revoke);
}

TEST_CASE("an unreachable provider does not stop the grace clock", "[key-monitor]") {
    Monitor monitor;
    monitor.observe({disabled}, t0);
    CHECK(monitor.observe({unreachable}, t0 + 5s) == KeyAction::none);
    CHECK(monitor.state.status == KeyStatus::grace);
    CHECK(monitor.state.since == t0);
    CHECK(monitor.state.deadline == t0 + 10s);
    CHECK_THAT(monitor.state.reason, Equals(grace_reason));
    // Not extended to the unreachable tolerance (60s): revoked at the grace end.
    CHECK(monitor.observe({unreachable}, t0 + 10s) == KeyAction::revoke);
    CHECK(monitor.state.status == KeyStatus::revoked);
    CHECK(monitor.state.since == t0 + 10s);
    CHECK(monitor.state.deadline == std::nullopt);
    // The reason is the key's state as last known, not the provider's silence.
    CHECK_THAT(monitor.state.reason, Equals(disabled.reason));
}

TEST_CASE("the worst layer wins", "[key-monitor]") {
    SECTION("unreachable then disabled") {
        Monitor monitor;
        CHECK(monitor.observe({unreachable, disabled}, t0) == KeyAction::none);
        CHECK(monitor.state.status == KeyStatus::grace);
        CHECK(monitor.state.deadline == t0 + 10s);
        CHECK_THAT(monitor.state.reason, Equals(grace_reason));
    }
    SECTION("disabled then unreachable") {
        Monitor monitor;
        CHECK(monitor.observe({disabled, unreachable}, t0) == KeyAction::none);
        CHECK(monitor.state.status == KeyStatus::grace);
        CHECK_THAT(monitor.state.reason, Equals(grace_reason));
    }
    SECTION("usable then unreachable") {
        Monitor monitor;
        CHECK(monitor.observe({usable, unreachable}, t0) == KeyAction::none);
        CHECK(monitor.state.status == KeyStatus::unreachable);
        CHECK_THAT(monitor.state.reason, Equals(unreachable_state_reason));
    }
    SECTION("two unusable layers: the first is named") {
        Monitor monitor;
        CHECK(monitor.observe({expired, disabled}, t0) == KeyAction::none);
        CHECK(monitor.state.status == KeyStatus::grace);
        CHECK_THAT(monitor.state.reason, Contains(expired.reason));
    }
    SECTION("usable then disabled") {
        Monitor monitor;
        CHECK(monitor.observe({usable, disabled}, t0) == KeyAction::none);
        CHECK(monitor.state.status == KeyStatus::grace);
    }
    SECTION("one layer unreachable past the tolerance while the other is usable") {
        Monitor monitor;
        monitor.observe({usable, unreachable}, t0);
        CHECK(monitor.observe({usable, unreachable}, t0 + 60s) == KeyAction::revoke);
        CHECK(monitor.state.status == KeyStatus::revoked);
    }
    SECTION("an unreachable outer layer does not restore a revoked disk") {
        Monitor monitor;
        monitor.observe({disabled, usable}, t0);
        monitor.observe({disabled, usable}, t0 + 10s);
        CHECK(monitor.observe({usable, unreachable}, t0 + 20s) == KeyAction::none);
        CHECK(monitor.state.status == KeyStatus::revoked);
    }
}

TEST_CASE("the deadlines follow the configured durations", "[key-monitor]") {
    Monitor monitor;
    monitor.config.revocation_grace = 1h;
    monitor.config.unreachable_tolerance = 4h;
    monitor.observe({disabled}, t0);
    CHECK(monitor.state.deadline == t0 + 1h);
    CHECK_THAT(monitor.state.reason,
               Equals(disabled_reason + "; I/O stops when the 1h grace period ends"));
    Monitor other;
    other.config.unreachable_tolerance = 4h;
    other.observe({unreachable}, t0);
    CHECK(other.state.deadline == t0 + 4h);
    CHECK_THAT(other.state.reason,
               Equals("key provider unreachable, serving for up to 4h: " + unreachable_reason));
}
