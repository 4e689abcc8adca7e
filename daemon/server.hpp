#pragma once

// hostcryptd's data plane: served disks as NBD exports, on every configured
// listener, by one reactor thread per core.
//
// The main thread starts and stops the Server; the control thread
// (daemon/control_plane.hpp) adds and removes disks and tells it when keys
// change. Reactor threads only ever touch their own reactor, its
// connections and the shared, thread-safe export registry.

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
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

    // Binds every listener and starts the reactors. Throws hostcrypt::Error
    // if a listener cannot be bound.
    void start();
    // Stops accepting, lets every connection finish the requests it has
    // sent, flushes every disk to stable storage and joins the reactors.
    void stop();

    // Offers an opened disk as an export under its name. Throws NbdError if
    // its geometry cannot be an export.
    void offer(std::shared_ptr<disk::ServedDisk> disk);
    // Stops offering a disk. With `only_if_unused`, refuses (returns false)
    // while connections use it; otherwise they finish normally.
    bool retire(const std::string& name, bool only_if_unused);
    // Makes every connection drop or rebuild its cipher now after a key
    // change, so an idle connection holds no revoked key.
    void refresh_ciphers();

    std::shared_ptr<disk::ServedDisk> disk(const std::string& name) const {
        return exports_.disk(name);
    }
    std::vector<std::shared_ptr<disk::ServedDisk>> disks() const { return exports_.disks(); }
    std::size_t export_count() const { return exports_.disks().size(); }
    std::size_t reactor_count() const noexcept { return reactors_.size(); }
    const DaemonConfig& config() const noexcept { return config_; }

  private:
    struct ReactorSlot {
        std::unique_ptr<io::Reactor> reactor;
        ConnectionSet connections;  // reactor thread only
        bool stopping = false;      // reactor thread only
        std::thread thread;
    };

    io::DetachedTask accept_loop(ReactorSlot& home, Listener& listener);
    void hand_over(int socket, std::string peer);

    DaemonConfig config_;
    ConnectionLimits limits_;
    ExportRegistry exports_;
    std::vector<std::unique_ptr<ReactorSlot>> reactors_;
    std::vector<io::Reactor*> all_reactors_;  // the same, for connections lending work
    std::vector<Listener> listeners_;
    // Disks no longer offered that connections may still be writing to, so
    // shutdown flushes them too; dropped once no connection holds them.
    std::mutex retired_mutex_;
    std::vector<std::shared_ptr<disk::ServedDisk>> retired_;
    std::atomic<std::size_t> next_reactor_{0};
    std::atomic<bool> stopping_{false};
    bool started_ = false;
};

}  // namespace hostcrypt::daemon
