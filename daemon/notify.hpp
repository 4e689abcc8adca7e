#pragma once

// Telling systemd how hostcryptd is doing (sd_notify(3)), for the Type=notify
// unit in systemd/hostcryptd.service: systemd starts the units ordered after
// hostcryptd only once it has said READY=1, and shows STATUS= in
// `systemctl status`.
//
// Each call is a no-op that succeeds when $NOTIFY_SOCKET is unset (not run
// by systemd, or by a unit of another type). A notification that cannot be
// sent is not fatal: the daemon serves on and logs the returned error (a
// start whose READY=1 is lost is timed out by systemd, TimeoutStartSec=).
//
// Every function returns an empty error_code when the message was sent or
// there was no one to send it to, and otherwise the errno it failed with
// (generic_category). Safe to call from any thread.

#include <string_view>
#include <system_error>

namespace hostcrypt::daemon {

// READY=1 with STATUS=`status` (left out when empty): start-up, or a reload,
// is complete. Newlines in `status` become spaces, since a newline would
// start another assignment.
[[nodiscard]] std::error_code notify_ready(std::string_view status);

// RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC now). systemd 252
// (bookworm) shows the unit as reloading until the next READY=1; 253 and
// later also need MONOTONIC_USEC to pair the two under Type=notify-reload.
[[nodiscard]] std::error_code notify_reloading();

// STOPPING=1: shutdown has begun.
[[nodiscard]] std::error_code notify_stopping();

// STATUS=`status` alone, newlines made spaces as for notify_ready.
[[nodiscard]] std::error_code notify_status(std::string_view status);

}  // namespace hostcrypt::daemon
