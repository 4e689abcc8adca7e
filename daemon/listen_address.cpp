#include "daemon/listen_address.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <sys/un.h>
#include <system_error>

#include <fmt/format.h>

namespace hostcrypt::daemon {

namespace fs = std::filesystem;

ListenAddress ListenAddress::unix_socket(fs::path path) {
    ListenAddress address;
    address.kind = Kind::unix_socket;
    address.path = std::move(path);
    return address;
}

ListenAddress ListenAddress::tcp(std::string host, std::uint16_t port) {
    ListenAddress address;
    address.kind = Kind::tcp;
    address.host = std::move(host);
    address.port = port;
    return address;
}

std::string ListenAddress::to_string() const {
    if (kind == Kind::unix_socket) {
        return "unix:" + path.string();
    }
    if (host.find(':') != std::string::npos) {
        return fmt::format("tcp:[{}]:{}", host, port);
    }
    return fmt::format("tcp:{}:{}", host, port);
}

ListenAddress default_listener() {
    return ListenAddress::unix_socket("/run/hostcrypt/nbd.sock");
}

namespace {

[[noreturn]] void invalid_tcp(std::string_view text, std::string_view why) {
    throw ConfigError(ConfigErrc::invalid_value,
                      fmt::format("\"{}\" is not a TCP address to listen on: {}; write "
                                  "HOST:PORT, [IPV6]:PORT, or PORT alone for 127.0.0.1:PORT",
                                  text, why));
}

std::uint16_t parse_port(std::string_view whole, std::string_view port) {
    unsigned value = 0;
    const std::from_chars_result parsed =
        std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || parsed.ptr != port.data() + port.size()) {
        invalid_tcp(whole, fmt::format("the port \"{}\" is not a number", port));
    }
    if (parsed.ec == std::errc::result_out_of_range || value == 0 || value > 65535) {
        invalid_tcp(whole, fmt::format("the port {} is not from 1 to 65535", port));
    }
    return static_cast<std::uint16_t>(value);
}

bool is_ip_address(int family, const std::string& host) {
    unsigned char address[sizeof(in6_addr)];
    return ::inet_pton(family, host.c_str(), address) == 1;
}

}  // namespace

ListenAddress parse_tcp_address(std::string_view text) {
    if (text.empty()) {
        invalid_tcp(text, "it is empty");
    }
    if (text.find_first_not_of("0123456789") == std::string_view::npos) {
        return ListenAddress::tcp("127.0.0.1", parse_port(text, text));
    }
    std::string host;
    std::string_view port;
    if (text.starts_with('[')) {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            invalid_tcp(text, "an IPv6 address in brackets must be followed by :PORT");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        if (!is_ip_address(AF_INET6, host)) {
            invalid_tcp(text, fmt::format("{} is not an IPv6 address", host));
        }
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            invalid_tcp(text, "there is no port");
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string::npos) {
            invalid_tcp(text, "an IPv6 address needs brackets, like [::1]:10809");
        }
        if (!is_ip_address(AF_INET, host)) {
            invalid_tcp(text, fmt::format("{} is not an IPv4 address (host names are not "
                                          "accepted, so the address never depends on DNS)",
                                          host.empty() ? "an empty host" : host));
        }
    }
    return ListenAddress::tcp(std::move(host), parse_port(text, port));
}

ListenAddress parse_unix_address(std::string_view text) {
    // sun_path holds the path and its terminating NUL.
    constexpr std::size_t max_length = sizeof(sockaddr_un::sun_path) - 1;
    const fs::path path(text);
    if (!path.is_absolute()) {
        throw ConfigError(ConfigErrc::invalid_value,
                          fmt::format("\"{}\" is not an absolute socket path", text));
    }
    if (text.size() > max_length) {
        throw ConfigError(ConfigErrc::invalid_value,
                          fmt::format("the socket path \"{}\" is {} bytes long; a unix socket "
                                      "path can have at most {}",
                                      text, text.size(), max_length));
    }
    return ListenAddress::unix_socket(path);
}

}  // namespace hostcrypt::daemon
