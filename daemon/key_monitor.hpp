#pragma once

// The revocation policy: what the daemon does with a disk when the health of
// its keys changes. Pure logic over observations and time, so every path of
// it is tested without a clock or a vault (tests/unit/daemon).
//
//   serving ──key unusable──▶ grace ──grace over──▶ revoked (DEKs wiped, EIO)
//      ▲                        │                      │
//      └──────key usable────────┴──────key usable──────┘ (unwrap again)
//   serving ──provider unreachable──▶ unreachable ──tolerance over──▶ revoked
//
// An unreachable provider is not a revocation: the disk keeps serving for
// the tolerance, and a key known to be unusable is not "restored" by a
// provider that cannot be asked.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/boot_clock.hpp"
#include "common/utc_time.hpp"
#include "daemon/config.hpp"
#include "keys/key_health.hpp"

namespace hostcrypt::daemon {

enum class KeyStatus {
    serving,      // every key usable
    grace,        // a key is unusable; still serving until the deadline
    unreachable,  // a provider cannot be asked; still serving until the deadline
    revoked,      // keys wiped: every request fails with EIO
};

const char* to_string(KeyStatus status) noexcept;

// When a key check happens, on two clocks: the wall clock for what people
// read (since, grace_ends) and the boot-time clock for deciding when a
// grace period or tolerance is over, so that setting the system clock
// neither cuts one short nor stretches it (common/boot_clock.hpp).
struct CheckTime {
    TimePoint wall;
    BootClock::time_point monotonic;

    static CheckTime now();
};

struct DiskKeyState {
    KeyStatus status = KeyStatus::serving;
    std::optional<TimePoint> since;     // when the current status began
    std::optional<TimePoint> deadline;  // grace or tolerance end, as people read it
    // The same end on the boot-time clock: what decides.
    std::optional<BootClock::time_point> monotonic_deadline;
    std::string reason;  // empty while serving
    std::string cause;   // the provider's own words on the key
};

enum class KeyAction {
    none,
    revoke,   // wipe the disk's DEKs now
    restore,  // the keys are usable again: unwrap and serve
};

// Updates `state` with what the providers said about each layer's key at
// `now` and returns what the daemon must do. A restore that fails is
// reported back with restore_failed.
KeyAction observe_keys(DiskKeyState& state, const std::vector<keys::KeyHealth>& layers,
                       CheckTime now, const KeyMonitorConfig& config);

// The keys looked usable but did not unwrap: stay revoked, say why.
void restore_failed(DiskKeyState& state, const std::string& why);

}  // namespace hostcrypt::daemon
