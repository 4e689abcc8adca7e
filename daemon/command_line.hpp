#pragma once

// hostcryptd's command line. Settings are layered, each layer overriding the
// one before: built-in defaults, the config file, $HOSTCRYPT_STATE, flags.
// Listeners named by flags replace the file's instead of adding to them, so
// a command line alone says where the daemon listens.

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <variant>

#include "daemon/config.hpp"

namespace hostcrypt::daemon {

// What the process would read from its surroundings; tests pass their own.
struct CommandLineEnvironment {
    // Read when --config is not given, and only if it exists.
    std::filesystem::path default_config_file = "/etc/hostcrypt/hostcryptd.toml";
    // $HOSTCRYPT_STATE, as for the hostcrypt command line.
    std::optional<std::string> state_directory;

    // The real environment: $HOSTCRYPT_STATE if set and not empty.
    static CommandLineEnvironment of_process();
};

// The daemon should exit at once with this code: help or version was
// printed (0), or a usage error was (exit_usage).
struct ExitRequest {
    static constexpr int exit_usage = 2;  // LSB: invalid or excess arguments
    int exit_code = 0;
};

// Help and version go to `out`, usage errors to `err` (CLI11 prints them).
// Relative paths in flags and $HOSTCRYPT_STATE are made absolute against the
// current directory. Throws ConfigError for a config file that is missing
// (when named by --config), unreadable or invalid.
std::variant<DaemonConfig, ExitRequest> parse_command_line(
    int argc, const char* const* argv, std::ostream& out, std::ostream& err,
    const CommandLineEnvironment& environment = CommandLineEnvironment::of_process());

}  // namespace hostcrypt::daemon
