#include "daemon/server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <exception>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/log.hpp"
#include "io/ring_operation.hpp"
#include "nbd/exports.hpp"

namespace hostcrypt::daemon {

namespace {

// Asked of every accepted unix socket (the kernel doubles it for its own
// bookkeeping).
constexpr int unix_send_buffer = 1 << 20;

unsigned reactors_for(unsigned configured) {
    if (configured != 0) {
        return configured;
    }
    const unsigned cores = std::thread::hardware_concurrency();
    return cores == 0 ? 1 : cores;
}

std::string peer_name(const sockaddr_storage& address, const ListenAddress& listener) {
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
        ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
        return fmt::format("{}:{}", text, ntohs(v4->sin_port));
    }
    if (address.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
        ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
        return fmt::format("[{}]:{}", text, ntohs(v6->sin6_port));
    }
    return listener.to_string();
}

}  // namespace

Server::Server(DaemonConfig config) : config_(std::move(config)) {
    limits_.lending.enabled = config_.lending;
}

Server::~Server() {
    if (started_) {
        stop();
    }
}

void Server::offer(std::shared_ptr<disk::ServedDisk> disk) {
    nbd::validate_export(ExportRegistry::export_info(*disk));
    exports_.add(std::move(disk));
}

bool Server::retire(const std::string& name, bool only_if_unused) {
    if (only_if_unused) {
        // Nothing will write to it again, so nothing to flush at shutdown.
        return exports_.remove_unused(name) != nullptr || !exports_.contains(name);
    }
    std::shared_ptr<disk::ServedDisk> removed = exports_.disk(name);
    exports_.remove(name);
    const std::lock_guard lock(retired_mutex_);
    // Only connections still hold a retired disk; once none does, its
    // descriptors (and a temp disk's deleted file) need not wait for shutdown.
    std::erase_if(retired_, [](const auto& disk) { return disk.use_count() == 1; });
    if (removed) {
        retired_.push_back(std::move(removed));
    }
    return true;
}

void Server::refresh_ciphers() {
    for (auto& slot : reactors_) {
        ReactorSlot* target = slot.get();
        target->reactor->post([target] { target->connections.refresh_ciphers(); });
    }
}

void Server::start() {
    for (const ListenAddress& address : config_.listeners) {
        listeners_.push_back(open_listener(address));
    }
    const unsigned count = reactors_for(config_.reactors);
    for (unsigned index = 0; index < count; ++index) {
        auto slot = std::make_unique<ReactorSlot>();
        slot->reactor = std::make_unique<io::Reactor>(index);
        all_reactors_.push_back(slot->reactor.get());
        reactors_.push_back(std::move(slot));
    }
    // Listeners are spread over the reactors; each accepted connection goes
    // to the next reactor in turn, whichever listener it came from.
    for (std::size_t index = 0; index < listeners_.size(); ++index) {
        ReactorSlot& home = *reactors_[index % reactors_.size()];
        Listener& listener = listeners_[index];
        home.reactor->post([this, &home, &listener] { accept_loop(home, listener); });
    }
    for (auto& slot : reactors_) {
        io::Reactor& reactor = *slot->reactor;
        slot->thread = std::thread([&reactor] {
            // Named for top -H, perf and gdb: "reactor 0", "reactor 1", ...
            const std::string name = "reactor " + std::to_string(reactor.index());
            ::pthread_setname_np(::pthread_self(), name.c_str());
            reactor.run();
        });
    }
    started_ = true;
}

io::DetachedTask Server::accept_loop(ReactorSlot& home, Listener& listener) {
    io::Reactor& reactor = *home.reactor;
    reactor.hold();
    const bool tcp = listener.address.kind == ListenAddress::Kind::tcp;
    for (;;) {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        const int result = co_await io::on_ring(reactor, [&](io_uring_sqe* sqe) {
            io_uring_prep_accept(sqe, listener.socket.get(), reinterpret_cast<sockaddr*>(&address),
                                 &length, SOCK_CLOEXEC);
        });
        if (stopping_.load()) {
            if (result >= 0) {
                ::close(result);
            }
            break;
        }
        if (result < 0) {
            // Out of descriptors or memory: the connection is refused and
            // the listener keeps going, so the daemon recovers once load drops.
            log("{}: accept failed: {}", listener.address.to_string(), std::strerror(-result));
            continue;
        }
        // Both are tuning: a socket that refuses one works, only slower.
        if (tcp) {
            const int on = 1;
            ::setsockopt(result, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        } else {
            // A unix socket holds what its sender's buffer allows, by
            // default about 208 KiB: not even two 128 KiB replies, so a
            // reactor keeps re-arming sends while the client drains them.
            // More room measured 1.2x faster 128k reads on one connection.
            // (TCP tunes its own buffer, and setting one would stop that.)
            // The kernel caps it at net.core.wmem_max.
            ::setsockopt(result, SOL_SOCKET, SO_SNDBUF, &unix_send_buffer, sizeof unix_send_buffer);
        }
        hand_over(result, peer_name(address, listener.address));
    }
    reactor.release();
}

void Server::hand_over(int socket, std::string peer) {
    ReactorSlot& target = *reactors_[next_reactor_.fetch_add(1) % reactors_.size()];
    target.reactor->post([this, &target, socket, peer = std::move(peer)]() mutable {
        if (target.stopping) {
            ::close(socket);
            return;
        }
        Connection::start(*target.reactor, all_reactors_, target.connections, UniqueFd(socket),
                          std::move(peer), exports_, limits_);
    });
}

void Server::stop() {
    if (!started_) {
        return;
    }
    started_ = false;
    stopping_.store(true);
    // Wakes every pending accept with an error; the loops see stopping_.
    for (const Listener& listener : listeners_) {
        ::shutdown(listener.socket.get(), SHUT_RDWR);
    }
    for (auto& slot : reactors_) {
        ReactorSlot* target = slot.get();
        target->reactor->post([target] {
            target->stopping = true;
            target->connections.stop_receiving_all();
        });
        target->reactor->request_stop();
    }
    for (auto& slot : reactors_) {
        slot->thread.join();
    }
    std::vector<std::shared_ptr<disk::ServedDisk>> disks = exports_.disks();
    {
        const std::lock_guard lock(retired_mutex_);
        disks.insert(disks.end(), retired_.begin(), retired_.end());
    }
    for (const auto& served : disks) {
        try {
            served->backend().flush_now();
        } catch (const std::exception& error) {
            log("disk {}: flush at shutdown failed: {}", served->name(), error.what());
        }
    }
    for (const Listener& listener : listeners_) {
        remove_socket_file(listener);
    }
}

}  // namespace hostcrypt::daemon
