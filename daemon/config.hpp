#pragma once

// The configuration of hostcryptd: what it serves, where it listens, how many
// reactors it runs. It comes from built-in defaults, then a TOML file
// (daemon/hostcryptd.toml documents every key), then the environment and the
// command line (command_line.hpp).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "daemon/authorization.hpp"
#include "daemon/config_error.hpp"
#include "daemon/listen_address.hpp"

namespace hostcrypt::daemon {

// The control socket (docs/control-api.md) and who may use it.
struct ControlConfig {
    std::filesystem::path socket = "/run/hostcrypt/control.sock";
    // The group that owns the socket (mode 0660); nullopt: the daemon's own.
    std::optional<Principal> socket_group;
    std::vector<RoleGrant> grants;

    bool operator==(const ControlConfig&) const = default;
};

// How often the daemon asks key providers about the keys its disks use, and
// how long it keeps serving when a key becomes unusable or unreachable.
struct KeyMonitorConfig {
    std::chrono::seconds check_interval{60};
    // A disabled, expired or deleted key: the disks keep serving this long.
    std::chrono::seconds revocation_grace{3600};
    // A provider that cannot be asked: not a revocation, but not forever.
    std::chrono::seconds unreachable_tolerance{std::chrono::hours(4)};

    bool operator==(const KeyMonitorConfig&) const = default;
};

struct DaemonConfig {
    std::filesystem::path state_directory = "/var/lib/hostcrypt";
    // Reactor threads; 0 = one per online CPU.
    unsigned reactors = 0;
    // Whether a connection's large steps may run on other reactors
    // (daemon/helping_hands.hpp); false keeps each connection on its own.
    bool lending = true;
    // Never empty once loaded: with none configured, {default_listener()}.
    // No address appears twice (a second bind would fail at start-up).
    std::vector<ListenAddress> listeners;
    // O_DIRECT on backing stores.
    bool direct_io = false;
    // Serve every export read-only: writes are refused with EPERM.
    bool read_only = false;
    // Host-local storage for the instances' temp disks; empty means
    // <state_directory>/temp. Everything in it is erased at start.
    std::filesystem::path temp_directory;
    // Host-local storage for the host caches of disks attached with one;
    // empty means <state_directory>/cache.
    std::filesystem::path cache_directory;
    // Rotate the platform key once its newest version is this old (and
    // re-wrap the platform layers); nullopt = never.
    std::optional<std::chrono::seconds> platform_key_max_age = std::chrono::hours(24) * 90;
    KeyMonitorConfig key_monitor;
    ControlConfig control;
    // The file the settings were read from, for the daemon's log; empty if none.
    std::filesystem::path config_file;

    bool operator==(const DaemonConfig&) const = default;

    std::filesystem::path temp_directory_in_use() const {
        return temp_directory.empty() ? state_directory / "temp" : temp_directory;
    }
    std::filesystem::path cache_directory_in_use() const {
        return cache_directory.empty() ? state_directory / "cache" : cache_directory;
    }
};

inline constexpr unsigned max_reactors = 256;

// Reads and parses a config file. Throws ConfigError: not_found if it does
// not exist, unreadable, or whatever parse_config throws.
DaemonConfig load_config_file(const std::filesystem::path& file);

// Parses config text; `source_name` names it in error messages. Keys the
// text leaves out keep their defaults. Throws ConfigError naming source,
// line and key.
DaemonConfig parse_config(std::string_view toml_text, std::string_view source_name);

}  // namespace hostcrypt::daemon
