#include "daemon/control_server.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "control/json_rpc.hpp"
#include "daemon/log.hpp"

namespace hostcrypt::daemon {

namespace {

// A caller that does not read its answer must not stall the control thread.
constexpr timeval send_timeout{10, 0};

}  // namespace

ControlServer::ControlServer(const std::filesystem::path& socket, std::optional<Principal> group,
                             Handler handler)
    : listener_(open_listener(ListenAddress::unix_socket(socket))), handler_(std::move(handler)) {
    if (group && ::chown(socket.c_str(), static_cast<uid_t>(-1), group->id) != 0) {
        const int error = errno;
        remove_socket_file(listener_);
        throw Error(fmt::format("control socket {}: cannot give it to group {}: {}",
                                socket.string(), group->text, std::strerror(error)));
    }
}

ControlServer::~ControlServer() {
    remove_socket_file(listener_);
}

bool ControlServer::serve_until(std::chrono::steady_clock::time_point deadline, int wake_fd) {
    for (;;) {
        std::vector<pollfd> watched{{wake_fd, POLLIN, 0}, {listener_.socket.get(), POLLIN, 0}};
        for (const Client& client : clients_) {
            watched.push_back({client.socket.get(), POLLIN, 0});
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        const int ready = ::poll(watched.data(), watched.size(),
                                 static_cast<int>(std::min<long>(left.count(), 60000)));
        if (ready < 0 && errno != EINTR) {
            throw Error(fmt::format("control socket: poll: {}", std::strerror(errno)));
        }
        if (ready <= 0) {
            continue;
        }
        // Clients first: accepting may move the vector's elements.
        std::vector<bool> done(clients_.size(), false);
        for (std::size_t i = 0; i < clients_.size(); ++i) {
            if (watched[i + 2].revents != 0) {
                done[i] = !serve_client(clients_[i]);
            }
        }
        for (std::size_t i = clients_.size(); i-- > 0;) {
            if (done[i]) {
                clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
            }
        }
        if (watched[1].revents != 0) {
            accept_client();
        }
        if (watched[0].revents != 0) {
            return true;
        }
    }
}

void ControlServer::accept_client() {
    UniqueFd socket(::accept4(listener_.socket.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!socket) {
        log("control socket: accept failed: {}", std::strerror(errno));
        return;
    }
    if (clients_.size() >= max_clients) {
        log("control socket: refused a caller: already {} connections", max_clients);
        return;
    }
    ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    try {
        PeerCredentials caller = peer_credentials(socket.get());
        clients_.push_back({std::move(socket), std::move(caller), {}});
    } catch (const Error& error) {
        log("control socket: refused a caller: {}", error.what());
    }
}

bool ControlServer::serve_client(Client& client) {
    char chunk[16384];
    const ssize_t received = ::recv(client.socket.get(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (received < 0 && (errno == EAGAIN || errno == EINTR)) {
        return true;
    }
    if (received <= 0) {
        return false;  // closed or broken: nothing to answer
    }
    client.buffered.append(chunk, static_cast<std::size_t>(received));
    for (;;) {
        const std::size_t end = client.buffered.find('\n');
        if (end == std::string::npos) {
            break;
        }
        const std::string line = client.buffered.substr(0, end);
        client.buffered.erase(0, end + 1);
        if (!send_line(client, handler_(client.caller, line))) {
            return false;
        }
    }
    if (client.buffered.size() > control::max_request_bytes) {
        log("control socket: {}: request longer than {} bytes; connection closed",
            describe(client.caller), control::max_request_bytes);
        send_line(client, control::error_response(nullptr, control::rpc_invalid_request,
                                                  "request too long", "invalid-request"));
        return false;
    }
    return true;
}

bool ControlServer::send_line(Client& client, const std::string& line) {
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t result =
            ::send(client.socket.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result < 0) {
            log("control socket: {}: answer not delivered: {}", describe(client.caller),
                std::strerror(errno));
            return false;
        }
        sent += static_cast<std::size_t>(result);
    }
    return true;
}

}  // namespace hostcrypt::daemon
