#include "daemon/command_line.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "common/duration.hpp"

#ifndef HOSTCRYPT_VERSION
#define HOSTCRYPT_VERSION "unknown"
#endif

namespace hostcrypt::daemon {

namespace fs = std::filesystem;

CommandLineEnvironment CommandLineEnvironment::of_process() {
    CommandLineEnvironment environment;
    const char* state = std::getenv("HOSTCRYPT_STATE");
    if (state != nullptr && *state != '\0') {
        environment.state_directory = state;
    }
    return environment;
}

namespace {

constexpr const char* footer =
    "Settings are layered, each overriding the one before: built-in defaults,\n"
    "the config file, $HOSTCRYPT_STATE, then these options. --unix and --tcp\n"
    "replace the listeners of the config file; they do not add to them. With no\n"
    "listener anywhere, hostcryptd listens on unix:/run/hostcrypt/nbd.sock.\n"
    "The example config (daemon/hostcryptd.toml in the sources) documents every\n"
    "setting of the file.";

// What the options say, as text; checked and converted by overrides_of.
struct Flags {
    std::string config_file;
    std::string state_directory;
    std::string temp_directory;
    std::string cache_directory;
    std::vector<std::string> unix_paths;
    std::vector<std::string> tcp_addresses;
    unsigned reactors = 0;
    bool direct_io = false;
    bool no_direct_io = false;
    bool lending = false;
    bool no_lending = false;
    bool read_only = false;
    std::string platform_key_max_age;
    std::string control_socket;
    std::string key_check_interval;
    std::string revocation_grace;
    std::string unreachable_tolerance;
};

// What the options change, checked; each is set only if its option was given.
struct Overrides {
    std::optional<fs::path> config_file;
    std::optional<fs::path> state_directory;
    std::optional<fs::path> temp_directory;
    std::optional<fs::path> cache_directory;
    std::vector<ListenAddress> listeners;
    std::optional<unsigned> reactors;
    std::optional<bool> direct_io;
    std::optional<bool> lending;
    std::optional<bool> read_only;
    bool platform_key_max_age_given = false;
    std::optional<std::chrono::seconds> platform_key_max_age;
    std::optional<fs::path> control_socket;
    std::optional<std::chrono::seconds> key_check_interval;
    std::optional<std::chrono::seconds> revocation_grace;
    std::optional<std::chrono::seconds> unreachable_tolerance;
};

// Relative paths are taken from the current directory, as a shell user means them.
fs::path absolute_path(const std::string& text, const char* option) {
    if (text.empty()) {
        throw CLI::ValidationError(option, "an empty path");
    }
    return fs::absolute(text);
}

void add_listener(std::vector<ListenAddress>& listeners, ListenAddress address,
                  const char* option) {
    if (std::find(listeners.begin(), listeners.end(), address) != listeners.end()) {
        throw CLI::ValidationError(option, fmt::format("{} is given twice", address.to_string()));
    }
    listeners.push_back(std::move(address));
}

std::optional<std::chrono::seconds> duration_flag(const CLI::App& app, const char* option,
                                                  const std::string& text) {
    if (app.count(option) == 0) {
        return std::nullopt;
    }
    try {
        return parse_duration(text);
    } catch (const Error& error) {
        throw CLI::ValidationError(option, error.what());
    }
}

// Throws CLI::ValidationError, so CLI11 reports a bad value like any other
// usage error.
Overrides overrides_of(const CLI::App& app, const Flags& flags) {
    Overrides overrides;
    const auto given = [&app](const char* option) { return app.count(option) > 0; };
    if (given("--config")) {
        overrides.config_file = absolute_path(flags.config_file, "--config");
    }
    if (given("--state")) {
        overrides.state_directory = absolute_path(flags.state_directory, "--state");
    }
    if (given("--temp-dir")) {
        overrides.temp_directory = absolute_path(flags.temp_directory, "--temp-dir");
    }
    if (given("--cache-dir")) {
        overrides.cache_directory = absolute_path(flags.cache_directory, "--cache-dir");
    }
    for (const std::string& path : flags.unix_paths) {
        try {
            add_listener(overrides.listeners,
                         parse_unix_address(absolute_path(path, "--unix").string()), "--unix");
        } catch (const ConfigError& error) {
            throw CLI::ValidationError("--unix", error.what());
        }
    }
    for (const std::string& address : flags.tcp_addresses) {
        try {
            add_listener(overrides.listeners, parse_tcp_address(address), "--tcp");
        } catch (const ConfigError& error) {
            throw CLI::ValidationError("--tcp", error.what());
        }
    }
    if (given("--reactors")) {
        overrides.reactors = flags.reactors;
    }
    if (flags.direct_io || flags.no_direct_io) {
        overrides.direct_io = flags.direct_io;
    }
    if (flags.read_only) {
        overrides.read_only = true;
    }
    if (flags.lending || flags.no_lending) {
        overrides.lending = flags.lending;
    }
    if (given("--platform-key-max-age")) {
        overrides.platform_key_max_age_given = true;
        if (flags.platform_key_max_age != "off") {
            try {
                overrides.platform_key_max_age = parse_duration(flags.platform_key_max_age);
            } catch (const Error& error) {
                throw CLI::ValidationError("--platform-key-max-age",
                                           fmt::format("{}, or off", error.what()));
            }
        }
    }
    if (given("--control")) {
        try {
            overrides.control_socket =
                parse_unix_address(absolute_path(flags.control_socket, "--control").string()).path;
        } catch (const ConfigError& error) {
            throw CLI::ValidationError("--control", error.what());
        }
    }
    overrides.key_check_interval =
        duration_flag(app, "--key-check-interval", flags.key_check_interval);
    overrides.revocation_grace = duration_flag(app, "--revocation-grace", flags.revocation_grace);
    overrides.unreachable_tolerance =
        duration_flag(app, "--unreachable-tolerance", flags.unreachable_tolerance);
    return overrides;
}

DaemonConfig config_from_file(const Overrides& overrides,
                              const CommandLineEnvironment& environment) {
    if (overrides.config_file) {
        return load_config_file(*overrides.config_file);
    }
    std::error_code ignored;  // anything but absence is for load_config_file to report
    if (fs::status(environment.default_config_file, ignored).type() != fs::file_type::not_found) {
        return load_config_file(environment.default_config_file);
    }
    DaemonConfig config;
    config.listeners.push_back(default_listener());
    return config;
}

}  // namespace

std::variant<DaemonConfig, ExitRequest> parse_command_line(
    int argc, const char* const* argv, std::ostream& out, std::ostream& err,
    const CommandLineEnvironment& environment) {
    CLI::App app{"hostcryptd: serves encrypted disks over NBD", "hostcryptd"};
    app.set_version_flag("--version", "hostcryptd " HOSTCRYPT_VERSION);
    app.footer(footer);
    Flags flags;
    app.add_option("--config", flags.config_file,
                   fmt::format("the config file (default {}, if it exists)",
                               environment.default_config_file.string()))
        ->type_name("FILE");
    app.add_option("--state", flags.state_directory,
                   "state directory (default /var/lib/hostcrypt, or $HOSTCRYPT_STATE)")
        ->type_name("DIR");
    app.add_option("--temp-dir", flags.temp_directory,
                   "host-local directory for the instances' temp disks, erased at start "
                   "(default: <state>/temp)")
        ->type_name("DIR");
    app.add_option("--cache-dir", flags.cache_directory,
                   "host-local directory for the disks' host caches (default: <state>/cache)")
        ->type_name("DIR");
    app.add_option("--unix", flags.unix_paths, "listen on this unix socket (repeatable)")
        ->type_name("PATH")
        ->allow_extra_args(false);
    app.add_option("--tcp", flags.tcp_addresses,
                   "listen on TCP (repeatable); a PORT alone means 127.0.0.1:PORT, all "
                   "interfaces need an explicit 0.0.0.0:PORT or [::]:PORT")
        ->type_name("[HOST:]PORT")
        ->allow_extra_args(false);
    app.add_option(
           "--reactors", flags.reactors,
           fmt::format("reactor threads, 0 to {} (default 0: one per online CPU)", max_reactors))
        ->type_name("N")
        ->check(CLI::Range(0U, max_reactors));
    CLI::Option* direct_io = app.add_flag("--direct-io", flags.direct_io,
                                          "open backing stores with O_DIRECT (default: off)");
    app.add_flag("--no-direct-io", flags.no_direct_io, "open backing stores through the page cache")
        ->excludes(direct_io);
    app.add_flag("--read-only", flags.read_only, "serve every export read-only (default: off)");
    CLI::Option* lending =
        app.add_flag("--lending", flags.lending,
                     "let a connection's large reads and writes be en- or decrypted on idle "
                     "reactors (default: on)");
    app.add_flag("--no-lending", flags.no_lending, "keep each connection's work on its own reactor")
        ->excludes(lending);
    app.add_option("--platform-key-max-age", flags.platform_key_max_age,
                   "rotate the platform key once its newest version is this old: a whole "
                   "number with s, m, h or d, or off (default 90d)")
        ->type_name("DURATION|off");
    app.add_option("--control", flags.control_socket,
                   "the control socket (default /run/hostcrypt/control.sock)")
        ->type_name("PATH");
    app.add_option("--key-check-interval", flags.key_check_interval,
                   "ask key providers about the disks' keys this often (default 60s)")
        ->type_name("DURATION");
    app.add_option("--revocation-grace", flags.revocation_grace,
                   "keep serving a disk this long after its key became unusable (default 1h)")
        ->type_name("DURATION");
    app.add_option("--unreachable-tolerance", flags.unreachable_tolerance,
                   "keep serving a disk this long while its key provider cannot be reached "
                   "(default 4h)")
        ->type_name("DURATION");

    Overrides overrides;
    try {
        app.parse(argc, argv);
        overrides = overrides_of(app, flags);
    } catch (const CLI::ParseError& error) {
        const int code = app.exit(error, out, err);
        return ExitRequest{code == 0 ? 0 : ExitRequest::exit_usage};
    }

    DaemonConfig config = config_from_file(overrides, environment);
    if (environment.state_directory) {
        config.state_directory = fs::absolute(*environment.state_directory);
    }
    if (overrides.state_directory) {
        config.state_directory = *overrides.state_directory;
    }
    config.temp_directory = overrides.temp_directory.value_or(config.temp_directory);
    config.cache_directory = overrides.cache_directory.value_or(config.cache_directory);
    if (!overrides.listeners.empty()) {
        config.listeners = overrides.listeners;
    }
    config.reactors = overrides.reactors.value_or(config.reactors);
    config.direct_io = overrides.direct_io.value_or(config.direct_io);
    config.read_only = overrides.read_only.value_or(config.read_only);
    config.lending = overrides.lending.value_or(config.lending);
    if (overrides.platform_key_max_age_given) {
        config.platform_key_max_age = overrides.platform_key_max_age;
    }
    config.control.socket = overrides.control_socket.value_or(config.control.socket);
    KeyMonitorConfig& monitor = config.key_monitor;
    monitor.check_interval = overrides.key_check_interval.value_or(monitor.check_interval);
    monitor.revocation_grace = overrides.revocation_grace.value_or(monitor.revocation_grace);
    monitor.unreachable_tolerance =
        overrides.unreachable_tolerance.value_or(monitor.unreachable_tolerance);
    return config;
}

}  // namespace hostcrypt::daemon
