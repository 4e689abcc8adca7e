#pragma once

// Where hostcryptd listens: unix socket paths and TCP addresses, as users
// write them in the config file and on the command line.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "daemon/config_error.hpp"

namespace hostcrypt::daemon {

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

}  // namespace hostcrypt::daemon
