#include "daemon/control_server.hpp"

#include <algorithm>
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

// One blocking send waits at most this long; an answer as a whole at most
// answer_timeout.
constexpr timeval send_step_timeout{1, 0};

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

void ControlServer::serve_once(Clock::time_point deadline, int wake_fd) {
    const Clock::time_point now = Clock::now();
    drop_idle(now);
    // With a request already waiting, only look (timeout 0): new callers and
    // what others sent are taken in before every answer, so one caller's
    // pipeline cannot keep the others out.
    const bool pending = std::any_of(clients_.begin(), clients_.end(), [](const Client& client) {
        return client.buffered.find('\n') != std::string::npos;
    });
    std::vector<pollfd> watched{{wake_fd, POLLIN, 0}, {listener_.socket.get(), POLLIN, 0}};
    for (const Client& client : clients_) {
        watched.push_back({client.socket.get(), POLLIN, 0});
    }
    // Wake at least every minute to close idle connections.
    const auto wait =
        pending ? std::chrono::milliseconds(0)
                : std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                             std::chrono::milliseconds(0), std::chrono::milliseconds(60000));
    const int ready = ::poll(watched.data(), watched.size(), static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
        throw Error(fmt::format("control socket: poll: {}", std::strerror(errno)));
    }
    if (ready > 0) {
        std::vector<bool> done(clients_.size(), false);
        for (std::size_t i = 0; i < clients_.size(); ++i) {
            if (watched[i + 2].revents != 0) {
                done[i] = !receive(clients_[i]);
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
    }
    answer_one_pending();
}

bool ControlServer::answer_one_pending() {
    for (std::size_t step = 0; step < clients_.size(); ++step) {
        const std::size_t index = (next_client_ + step) % clients_.size();
        Client& client = clients_[index];
        const std::size_t end = client.buffered.find('\n');
        if (end == std::string::npos) {
            continue;
        }
        next_client_ = index + 1;  // the next pending caller goes first next time
        const std::string line = client.buffered.substr(0, end);
        client.buffered.erase(0, end + 1);
        client.last_active = Clock::now();
        if (!send_line(client, handler_(client.caller, line))) {
            clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
        }
        return true;
    }
    return false;
}

void ControlServer::accept_client() {
    UniqueFd socket(::accept4(listener_.socket.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!socket) {
        log("control socket: accept failed: {}", std::strerror(errno));
        return;
    }
    PeerCredentials caller;
    try {
        caller = peer_credentials(socket.get());
    } catch (const Error& error) {
        log("control socket: refused a caller: {}", error.what());
        return;
    }
    const bool privileged = is_privileged(caller);
    if (!make_room_for(caller, privileged)) {
        log("control socket: refused {}: too many control connections", describe(caller));
        return;
    }
    ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &send_step_timeout,
                 sizeof send_step_timeout);
    clients_.push_back({std::move(socket), std::move(caller), privileged, {}, Clock::now()});
}

bool ControlServer::make_room_for(const PeerCredentials& caller, bool privileged) {
    const auto same_user = std::count_if(clients_.begin(), clients_.end(), [&](const Client& c) {
        return c.caller.uid == caller.uid;
    });
    if (!privileged && static_cast<std::size_t>(same_user) >= max_clients_per_user) {
        return false;
    }
    if (clients_.size() < max_clients) {
        return true;
    }
    if (!privileged) {
        return false;
    }
    // Root always gets in: the longest-idle connection of an unprivileged
    // caller makes way.
    auto victim = clients_.end();
    for (auto client = clients_.begin(); client != clients_.end(); ++client) {
        if (!client->privileged &&
            (victim == clients_.end() || client->last_active < victim->last_active)) {
            victim = client;
        }
    }
    if (victim == clients_.end()) {
        return false;
    }
    log("control socket: closed the idle connection of {} to make room for {}",
        describe(victim->caller), describe(caller));
    clients_.erase(victim);
    return true;
}

bool ControlServer::receive(Client& client) {
    char chunk[16384];
    const ssize_t received = ::recv(client.socket.get(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (received < 0 && (errno == EAGAIN || errno == EINTR)) {
        return true;
    }
    if (received <= 0) {
        return false;  // closed or broken: nothing to answer
    }
    client.buffered.append(chunk, static_cast<std::size_t>(received));
    client.last_active = Clock::now();
    const std::size_t line_end = client.buffered.find('\n');
    const std::size_t line_length =
        line_end == std::string::npos ? client.buffered.size() : line_end;
    if (line_length > control::max_request_bytes) {
        log("control socket: {}: request longer than {} bytes; connection closed",
            describe(client.caller), control::max_request_bytes);
        send_line(client, control::error_response(nullptr, control::rpc_invalid_request,
                                                  "request too long", "invalid-request"));
        return false;
    }
    return true;
}

bool ControlServer::send_line(Client& client, const std::string& line) {
    const Clock::time_point deadline = Clock::now() + answer_timeout;
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t result =
            ::send(client.socket.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (result > 0) {
            sent += static_cast<std::size_t>(result);
            continue;
        }
        const int error = result < 0 ? errno : EPIPE;
        const bool retry = error == EINTR || error == EAGAIN || error == EWOULDBLOCK;
        if (!retry || Clock::now() >= deadline) {
            log("control socket: {}: answer not delivered ({}); connection closed",
                describe(client.caller),
                retry ? fmt::format("not taken within {} s", answer_timeout.count())
                      : std::string(std::strerror(error)));
            return false;
        }
    }
    return true;
}

void ControlServer::drop_idle(Clock::time_point now) {
    std::erase_if(clients_, [&](const Client& client) {
        const bool idle = now - client.last_active > idle_timeout;
        if (idle) {
            log("control socket: {}: idle for {} s; connection closed", describe(client.caller),
                idle_timeout.count());
        }
        return idle;
    });
}

}  // namespace hostcrypt::daemon
