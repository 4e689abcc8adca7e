#pragma once

// The control socket's connections: accepts callers, reads their request
// lines, hands each line with the caller's kernel-reported credentials to a
// handler and writes back the response line. Control traffic is rare and
// small, so this is a plain poll(2) loop on the control thread, apart from
// the data path's rings.
//
// It serves one request per call of serve_once, so that the control thread
// gets to its own due work (key checks, shutdown) between any two requests,
// however many a caller pipelines. Bounded against callers that misbehave:
// at most max_clients connections, max_clients_per_user for a user who is
// not root (root and the daemon's user may always get in: they evict the
// longest-idle connection of someone else), max_request_bytes per line, an
// idle connection closed after idle_timeout, an answer not taken within
// answer_timeout closes its connection.
//
// Control thread only.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.hpp"
#include "daemon/authorization.hpp"
#include "daemon/listener.hpp"

namespace hostcrypt::daemon {

class ControlServer {
  public:
    using Clock = std::chrono::steady_clock;
    // Returns the response line (newline included).
    using Handler = std::function<std::string(const PeerCredentials&, std::string_view line)>;

    static constexpr std::size_t max_clients = 64;
    static constexpr std::size_t max_clients_per_user = 8;
    static constexpr std::chrono::seconds idle_timeout{600};
    static constexpr std::chrono::seconds answer_timeout{5};

    // Binds the socket (mode 0660; group-owned by `group` if given). Throws
    // hostcrypt::Error naming the path.
    ControlServer(const std::filesystem::path& socket, std::optional<Principal> group,
                  Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Takes in new callers and what callers sent — waiting for them until
    // `deadline` or until `wake_fd` is readable if no request is pending —
    // then answers at most one request (round-robin over callers). It
    // returns soon either way, so the caller can do its own due work between
    // any two requests.
    void serve_once(Clock::time_point deadline, int wake_fd);

    const std::filesystem::path& path() const noexcept { return listener_.address.path; }

  private:
    struct Client {
        UniqueFd socket;
        PeerCredentials caller;
        bool privileged = false;
        std::string buffered;
        Clock::time_point last_active;
    };

    bool answer_one_pending();
    void accept_client();
    bool make_room_for(const PeerCredentials& caller, bool privileged);
    // False when the client is done (closed, broken or misbehaving).
    bool receive(Client& client);
    bool send_line(Client& client, const std::string& line);
    void drop_idle(Clock::time_point now);

    Listener listener_;
    Handler handler_;
    std::vector<Client> clients_;
    std::size_t next_client_ = 0;  // where the round-robin over pending lines resumes
};

}  // namespace hostcrypt::daemon
