#include "daemon/listener.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/retry.hpp"

namespace hostcrypt::daemon {

namespace {

// The address is taken by a socket that is still open. That may be another
// server, or the listener of a daemon that was just killed: a process's
// io_uring instances are torn down by the kernel after the process is gone,
// and the sockets with operations in flight on them stay open (and a unix
// listener keeps completing connections) until then. So the daemon waits a
// little before it concludes the address is really taken.
class AddressBusy : public Error {
  public:
    using Error::Error;
};

constexpr auto busy_wait = std::chrono::seconds(5);

[[noreturn]] void fail(const ListenAddress& address, const std::string& what, int errnum) {
    throw Error(fmt::format("cannot listen on {}: {}: {}", address.to_string(), what,
                            std::strerror(errnum)));
}

sockaddr_un unix_address(const std::filesystem::path& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    // parse_unix_address checked that the path fits.
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    return address;
}

// A socket file left by a daemon that did not shut down cleanly is replaced;
// one that still accepts connections belongs to a running server.
void clear_stale_socket(const ListenAddress& address) {
    struct stat st {};
    if (::lstat(address.path.c_str(), &st) != 0) {
        return;
    }
    if (!S_ISSOCK(st.st_mode)) {
        throw Error(
            fmt::format("cannot listen on {}: the path exists and is not a socket; "
                        "remove it or choose another path",
                        address.to_string()));
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un target = unix_address(address.path);
    if (probe &&
        ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0) {
        throw AddressBusy(fmt::format("cannot listen on {}: another server is listening there",
                                      address.to_string()));
    }
    if (::unlink(address.path.c_str()) != 0 && errno != ENOENT) {
        fail(address, "cannot remove the stale socket file", errno);
    }
}

Listener open_unix(const ListenAddress& address) {
    std::error_code ignored;
    std::filesystem::create_directories(address.path.parent_path(), ignored);
    clear_stale_socket(address);
    UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        fail(address, "socket", errno);
    }
    const sockaddr_un target = unix_address(address.path);
    if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
        fail(address, "bind", errno);
    }
    // Owner and group: clients in the daemon's group may connect.
    if (::chmod(address.path.c_str(), 0660) != 0) {
        fail(address, "chmod", errno);
    }
    return Listener{address, std::move(socket)};
}

Listener open_tcp(const ListenAddress& address) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (::inet_pton(AF_INET, address.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(address.port);
        length = sizeof *v4;
    } else if (::inet_pton(AF_INET6, address.host.c_str(), &v6->sin6_addr) == 1) {
        family = AF_INET6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(address.port);
        length = sizeof *v6;
    } else {
        throw Error(fmt::format("cannot listen on {}: {} is not an IP address", address.to_string(),
                                address.host));
    }
    UniqueFd socket(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        fail(address, "socket", errno);
    }
    const int on = 1;
    ::setsockopt(socket.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (family == AF_INET6) {
        // [::] means IPv6 only: an IPv4 listener is configured on its own.
        ::setsockopt(socket.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    }
    if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
        if (errno == EADDRINUSE) {
            throw AddressBusy(fmt::format("cannot listen on {}: bind: {}", address.to_string(),
                                          std::strerror(errno)));
        }
        fail(address, "bind", errno);
    }
    return Listener{address, std::move(socket)};
}

Listener open_socket(const ListenAddress& address) {
    return retry_for<AddressBusy>(busy_wait, [&] {
        return address.kind == ListenAddress::Kind::unix_socket ? open_unix(address)
                                                                : open_tcp(address);
    });
}

}  // namespace

Listener open_listener(const ListenAddress& address) {
    Listener listener = open_socket(address);
    if (::listen(listener.socket.get(), SOMAXCONN) != 0) {
        fail(address, "listen", errno);
    }
    return listener;
}

void remove_socket_file(const Listener& listener) noexcept {
    if (listener.address.kind == ListenAddress::Kind::unix_socket) {
        ::unlink(listener.address.path.c_str());
    }
}

}  // namespace hostcrypt::daemon
