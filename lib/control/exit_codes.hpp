#pragma once

// The exit codes of `hostcrypt`, documented in docs/operations.md. The
// control API reports every failure with one of these as its JSON-RPC error
// code, so a command fails with the same code whether it ran in the daemon or
// offline. Scripts branch on them: they never change meaning.

namespace hostcrypt::control {

enum ExitCode : int {
    exit_ok = 0,
    exit_failed = 1,         // the operation failed (message on stderr)
    exit_usage = 2,          // bad command line or request parameters
    exit_not_found = 3,      // no such set, key, vault or disk
    exit_exists = 4,         // the name is taken
    exit_key_unusable = 5,   // a key is disabled, expired, deleted or not yet valid
    exit_refused = 6,        // a policy refused it (purge protection, set or disk in use)
    exit_state_damaged = 7,  // the state directory or a disk header is unsafe or damaged
    exit_incomplete = 8,     // done in part: some disks failed (rerun to resume), or check
                             // found problems
    exit_unauthorized = 9,   // the caller's role does not allow the call (control API)
    exit_unavailable = 10,   // the daemon could not be reached or answered garbage
};

}  // namespace hostcrypt::control
