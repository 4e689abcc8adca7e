#pragma once

#include <exception>

#include "context.hpp"

namespace hostcrypt::tools {

// Prints the error of a failed command (one line on stderr; with --json also
// {"error": {...}} on stdout) and returns its exit code. Every exception a
// command can throw ends here.
int report_error(const std::exception& error, const Context& context);

}  // namespace hostcrypt::tools
