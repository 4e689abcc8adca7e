#pragma once

// hostcryptd's server: the disks of the state directory's catalog served as
// NBD exports, on every configured listener, by one reactor thread per core.
//
// The main thread owns the Server: it starts it, reloads the catalog on
// SIGHUP and stops it on SIGTERM. Reactor threads only ever touch their own
// reactor, its connections and the shared, thread-safe export registry.

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/connection.hpp"
#include "daemon/export_registry.hpp"
#include "daemon/listener.hpp"
#include "io/reactor.hpp"

namespace hostcrypt::daemon {

class Server {
  public:
    explicit Server(DaemonConfig config);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Loads the catalog (disks that cannot be served are logged and left
    // out), binds every listener and starts the reactors. Throws
    // hostcrypt::Error if the state directory is unusable or a listener
    // cannot be bound.
    void start();
    // Serves disks added to the catalog since the last load and stops
    // offering removed ones (connections to them finish normally).
    void reload();
    // Rotates the platform key if its newest version is older than the
    // configured maximum age, re-wrapping every platform layer (headers only:
    // the data keys, and so the data path, do not change). Logs what it did;
    // failures are logged and retried at the next call.
    void rotate_platform_key_if_due();
    // Stops accepting, lets every connection finish the requests it has
    // sent, flushes every disk to stable storage and joins the reactors.
    void stop();

    std::size_t export_count() const { return exports_.disks().size(); }
    const DaemonConfig& config() const noexcept { return config_; }

  private:
    struct ReactorSlot {
        std::unique_ptr<io::Reactor> reactor;
        ConnectionSet connections;  // reactor thread only
        bool stopping = false;      // reactor thread only
        std::thread thread;
    };

    void load_catalog();
    io::DetachedTask accept_loop(ReactorSlot& home, Listener& listener);
    void hand_over(int socket, std::string peer);

    DaemonConfig config_;
    ConnectionLimits limits_;
    ExportRegistry exports_;
    std::vector<std::unique_ptr<ReactorSlot>> reactors_;
    std::vector<Listener> listeners_;
    // Disks a reload stopped offering; connections may still be writing to
    // them, so shutdown flushes them too.
    std::vector<std::shared_ptr<disk::ServedDisk>> retired_;
    std::atomic<std::size_t> next_reactor_{0};
    std::atomic<bool> stopping_{false};
    bool started_ = false;
};

}  // namespace hostcrypt::daemon
