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

namespace hostcrypt::daemon {

enum class ConfigErrc {
    not_found,      // the named config file does not exist
    unreadable,     // it exists but cannot be read
    syntax,         // it is not TOML
    unknown_key,    // a key this version does not know (often a typo)
    wrong_type,     // a string where a number belongs, and so on
    invalid_value,  // the right type, but out of range or malformed
};

const char* to_string(ConfigErrc code) noexcept;

// Every message names where the setting came from (file and line, or the
// command-line option), the key, and what is expected instead.
class ConfigError : public Error {
  public:
    ConfigError(ConfigErrc code, const std::string& message) : Error(message), code_(code) {}
    ConfigErrc code() const noexcept { return code_; }

  private:
    ConfigErrc code_;
};

struct ListenAddress {
    enum class Kind { unix_socket, tcp };

    Kind kind = Kind::unix_socket;
    std::filesystem::path path;  // unix_socket: absolute
    std::string host;            // tcp: an IP address, IPv6 without brackets ("::1")
    std::uint16_t port = 0;      // tcp: 1 to 65535

    static ListenAddress unix_socket(std::filesystem::path path);
    static ListenAddress tcp(std::string host, std::uint16_t port);

    // "unix:/run/hostcrypt/nbd.sock", "tcp:127.0.0.1:10809", "tcp:[::1]:10809"
    std::string to_string() const;
    bool operator==(const ListenAddress&) const = default;
};

// Listening addresses as users write them, shared by the file and the flags.
// Each throws ConfigError(invalid_value) saying what is wrong with `text`;
// callers prefix where it came from.
//
// "HOST:PORT", "[IPV6]:PORT" or "PORT". A bare port listens on 127.0.0.1:
// serving disks to the network is a decision, so it takes an explicit
// 0.0.0.0 or [::]. Hosts are IP addresses, never names, so what the daemon
// binds does not depend on DNS.
ListenAddress parse_tcp_address(std::string_view text);
// An absolute path that fits in sockaddr_un.
ListenAddress parse_unix_address(std::string_view text);

// unix:/run/hostcrypt/nbd.sock, where the daemon listens when told nowhere else.
ListenAddress default_listener();

struct DaemonConfig {
    std::filesystem::path state_directory = "/var/lib/hostcrypt";
    // Reactor threads; 0 = one per online CPU.
    unsigned reactors = 0;
    // Never empty once loaded: with none configured, {default_listener()}.
    // No address appears twice (a second bind would fail at start-up).
    std::vector<ListenAddress> listeners;
    // O_DIRECT on backing stores.
    bool direct_io = false;
    // Serve every export read-only: writes are refused with EPERM.
    bool read_only = false;
    // Rotate the platform key once its newest version is this old (and
    // re-wrap the platform layers); nullopt = never.
    std::optional<std::chrono::seconds> platform_key_max_age = std::chrono::hours(24) * 90;
    // The file the settings were read from, for the daemon's log; empty if none.
    std::filesystem::path config_file;

    bool operator==(const DaemonConfig&) const = default;
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
