#include "control/control_client.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fmt/format.h>

#include "common/files.hpp"
#include "control/control_error.hpp"
#include "control/exit_codes.hpp"
#include "control/json_rpc.hpp"

namespace hostcrypt::control {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Responses carry at most a status of every disk: far below this.
constexpr std::size_t max_response_bytes = 64 << 20;
constexpr auto connect_timeout = std::chrono::seconds(10);

ControlError unavailable(const fs::path& socket, const std::string& what) {
    return ControlError(exit_unavailable, "daemon-unavailable",
                        fmt::format("control socket {}: {}", socket.string(), what));
}

}  // namespace

std::optional<ControlClient> ControlClient::connect(const fs::path& socket) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string text = socket.string();
    if (text.size() >= sizeof address.sun_path) {
        throw unavailable(socket, "path too long for a unix socket");
    }
    std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
    // Non-blocking, so that a daemon whose listen queue is full makes the
    // connect fail with EAGAIN (retried for a while) rather than hang.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        throw unavailable(socket, std::strerror(errno));
    }
    const auto deadline = std::chrono::steady_clock::now() + connect_timeout;
    while (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        if (errno == ENOENT || errno == ECONNREFUSED) {
            return std::nullopt;
        }
        if (errno != EAGAIN && errno != EINTR) {
            throw unavailable(socket, std::strerror(errno));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw unavailable(socket, "the daemon does not accept connections (its queue is full)");
        }
        ::poll(nullptr, 0, 50);
    }
    const int flags = ::fcntl(fd.get(), F_GETFL);
    ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    return ControlClient(std::move(fd), socket);
}

json ControlClient::call(std::string_view method, const json& params,
                         std::chrono::milliseconds timeout) {
    if (!socket_) {
        throw unavailable(path_, "the connection was closed after an earlier call failed");
    }
    try {
        return exchange(method, params, timeout);
    } catch (const ControlError& error) {
        // An answer that did not come (or came garbled) would be read as the
        // answer to the next call: this connection is done.
        if (error.error_class().code == exit_unavailable) {
            socket_.reset();
        }
        throw;
    }
}

json ControlClient::exchange(std::string_view method, const json& params,
                             std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const json id = next_id_++;
    const std::string request = request_line(id, method, params);
    std::size_t sent = 0;
    while (sent < request.size()) {
        const ssize_t result =
            ::send(socket_.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result < 0) {
            throw unavailable(path_, fmt::format("sending failed: {}", std::strerror(errno)));
        }
        sent += static_cast<std::size_t>(result);
    }
    return parse_response(read_line(deadline), id);
}

std::string ControlClient::read_line(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        if (const auto end = buffered_.find('\n'); end != std::string::npos) {
            std::string line = buffered_.substr(0, end);
            buffered_.erase(0, end + 1);
            return line;
        }
        if (buffered_.size() > max_response_bytes) {
            throw unavailable(path_, "response too large");
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw unavailable(path_, "no response in time");
        }
        pollfd ready{socket_.get(), POLLIN, 0};
        const int polled = ::poll(&ready, 1, static_cast<int>(std::min<long>(left.count(), 60000)));
        if (polled < 0 && errno != EINTR) {
            throw unavailable(path_, std::strerror(errno));
        }
        if (polled <= 0) {
            continue;
        }
        char chunk[65536];
        const ssize_t received = ::recv(socket_.get(), chunk, sizeof chunk, 0);
        if (received < 0 && errno == EINTR) {
            continue;
        }
        if (received < 0) {
            throw unavailable(path_, std::strerror(errno));
        }
        if (received == 0) {
            throw unavailable(path_, "the daemon closed the connection without answering");
        }
        buffered_.append(chunk, static_cast<std::size_t>(received));
    }
}

fs::path daemon_record_path(const fs::path& state_directory) {
    return state_directory / "daemon.json";
}

std::optional<fs::path> recorded_control_socket(const fs::path& state_directory) {
    std::string text;
    try {
        text = read_text_file(daemon_record_path(state_directory));
    } catch (const Error&) {
        return std::nullopt;  // no daemon has recorded itself (or we may not read it)
    }
    const json record = json::parse(text, nullptr, false);
    if (!record.is_object() || !record.contains("control_socket") ||
        !record.at("control_socket").is_string()) {
        return std::nullopt;
    }
    return fs::path(record.at("control_socket").get<std::string>());
}

}  // namespace hostcrypt::control
