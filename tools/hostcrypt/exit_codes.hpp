#pragma once

// The exit codes of `hostcrypt`, documented in docs/operations.md. Scripts
// branch on these, so they never change meaning.

namespace hostcrypt::tools {

enum ExitCode : int {
    exit_ok = 0,
    exit_failed = 1,         // the operation failed (message on stderr)
    exit_usage = 2,          // bad command line
    exit_not_found = 3,      // no such set, key, vault or disk
    exit_exists = 4,         // the name is taken
    exit_key_unusable = 5,   // a key is disabled, expired, deleted or not yet valid
    exit_refused = 6,        // a policy refused it (purge protection, set in use)
    exit_state_damaged = 7,  // the state directory or a disk header is unsafe or damaged
    exit_incomplete =
        8,  // done in part: some disks failed (rerun to resume), or check found problems
};

}  // namespace hostcrypt::tools
