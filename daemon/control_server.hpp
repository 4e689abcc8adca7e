#pragma once

// The control socket's connections: accepts callers, reads their request
// lines, hands each line with the caller's kernel-reported credentials to a
// handler and writes back the response line. Control traffic is rare and
// small, so this is a plain poll(2) loop on the control thread, apart from
// the data path's rings; one request is handled at a time, which also
// serializes every change to the state directory.
//
// Bounded: at most max_clients connections and max_request_bytes per line;
// a longer line is answered with an error and the connection closed.
//
// Control thread only.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.hpp"
#include "daemon/authorization.hpp"
#include "daemon/listener.hpp"

namespace hostcrypt::daemon {

class ControlServer {
  public:
    // Returns the response line (newline included).
    using Handler = std::function<std::string(const PeerCredentials&, std::string_view line)>;

    static constexpr std::size_t max_clients = 64;

    // Binds the socket (mode 0660; group-owned by `group` if given). Throws
    // hostcrypt::Error naming the path.
    ControlServer(const std::filesystem::path& socket, std::optional<Principal> group,
                  Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Waits until `deadline` or until `wake_fd` is readable, serving callers
    // meanwhile. Returns true if it was woken (the caller drains wake_fd).
    bool serve_until(std::chrono::steady_clock::time_point deadline, int wake_fd);

    const std::filesystem::path& path() const noexcept { return listener_.address.path; }

  private:
    struct Client {
        UniqueFd socket;
        PeerCredentials caller;
        std::string buffered;
    };

    void accept_client();
    // False when the client is done (closed, broken or misbehaving).
    bool serve_client(Client& client);
    bool send_line(Client& client, const std::string& line);

    Listener listener_;
    Handler handler_;
    std::vector<Client> clients_;
};

}  // namespace hostcrypt::daemon
