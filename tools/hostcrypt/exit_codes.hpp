#pragma once

// The exit codes of `hostcrypt` are the control API's error codes
// (lib/control/exit_codes.hpp), so a command fails alike offline and live.

#include "control/exit_codes.hpp"

namespace hostcrypt::tools {

using control::exit_failed;
using control::exit_incomplete;
using control::exit_not_found;
using control::exit_ok;
using control::exit_refused;
using control::exit_unavailable;
using control::exit_usage;

}  // namespace hostcrypt::tools
