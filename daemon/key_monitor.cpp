#include "daemon/key_monitor.hpp"

#include <fmt/format.h>

#include "common/duration.hpp"

namespace hostcrypt::daemon {

namespace {

// The first layer in trouble, worst kind first: a revocation outranks an
// unreachable provider.
const keys::KeyHealth* worst_layer(const std::vector<keys::KeyHealth>& layers) {
    const keys::KeyHealth* unreachable = nullptr;
    for (const keys::KeyHealth& layer : layers) {
        if (layer.state == keys::KeyState::unreachable) {
            unreachable = unreachable != nullptr ? unreachable : &layer;
        } else if (!layer.usable()) {
            return &layer;
        }
    }
    return unreachable;
}

// `lasting`: how long the new status may last, if it has a deadline.
void enter(DiskKeyState& state, KeyStatus status, CheckTime now,
           std::optional<std::chrono::seconds> lasting, std::string reason, std::string cause) {
    state.status = status;
    state.since = now.wall;
    state.deadline.reset();
    state.monotonic_deadline.reset();
    if (lasting) {
        state.deadline = now.wall + *lasting;
        state.monotonic_deadline = now.monotonic + *lasting;
    }
    state.reason = std::move(reason);
    state.cause = std::move(cause);
}

bool past_deadline(const DiskKeyState& state, CheckTime now) {
    return now.monotonic >= state.monotonic_deadline.value();
}

void enter_grace(DiskKeyState& state, const keys::KeyHealth& trouble, CheckTime now,
                 const KeyMonitorConfig& config) {
    enter(state, KeyStatus::grace, now, config.revocation_grace,
          fmt::format("{}; I/O stops when the {} grace period ends", trouble.reason,
                      format_duration(config.revocation_grace)),
          trouble.reason);
}

}  // namespace

const char* to_string(KeyStatus status) noexcept {
    switch (status) {
        case KeyStatus::serving:
            return "serving";
        case KeyStatus::grace:
            return "grace";
        case KeyStatus::unreachable:
            return "unreachable";
        case KeyStatus::revoked:
            return "revoked";
    }
    return "?";
}

CheckTime CheckTime::now() {
    return {system_now(), BootClock::now()};
}

KeyAction observe_keys(DiskKeyState& state, const std::vector<keys::KeyHealth>& layers,
                       CheckTime now, const KeyMonitorConfig& config) {
    const keys::KeyHealth* trouble = worst_layer(layers);
    if (trouble == nullptr) {
        if (state.status == KeyStatus::revoked) {
            return KeyAction::restore;  // serving again once the unwrap succeeds
        }
        state = DiskKeyState{};
        return KeyAction::none;
    }
    const bool unreachable = trouble->state == keys::KeyState::unreachable;
    switch (state.status) {
        case KeyStatus::serving:
            if (unreachable) {
                enter(state, KeyStatus::unreachable, now, config.unreachable_tolerance,
                      fmt::format("key provider unreachable, serving for up to {}: {}",
                                  format_duration(config.unreachable_tolerance), trouble->reason),
                      trouble->reason);
            } else {
                enter_grace(state, *trouble, now, config);
            }
            return KeyAction::none;
        case KeyStatus::unreachable:
            if (!unreachable) {
                // The provider answers again, and says the key is unusable.
                enter_grace(state, *trouble, now, config);
                return KeyAction::none;
            }
            if (past_deadline(state, now)) {
                enter(state, KeyStatus::revoked, now, std::nullopt,
                      fmt::format("key provider unreachable for more than {}: {}",
                                  format_duration(config.unreachable_tolerance), trouble->reason),
                      trouble->reason);
                return KeyAction::revoke;
            }
            return KeyAction::none;
        case KeyStatus::grace:
            // An unreachable provider does not stop the clock: the last
            // answer was "unusable", and that is the reason given.
            if (past_deadline(state, now)) {
                const std::string cause = unreachable ? state.cause : trouble->reason;
                enter(state, KeyStatus::revoked, now, std::nullopt, cause, cause);
                return KeyAction::revoke;
            }
            return KeyAction::none;
        case KeyStatus::revoked:
            if (!unreachable) {
                state.reason = trouble->reason;  // e.g. disabled, then deleted
                state.cause = trouble->reason;
            }
            return KeyAction::none;
    }
    return KeyAction::none;
}

void restore_failed(DiskKeyState& state, const std::string& why) {
    state.reason = fmt::format("the keys are usable but the disk's keys do not unwrap: {}", why);
}

}  // namespace hostcrypt::daemon
