#include "daemon/server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <set>
#include <sys/socket.h>
#include <unistd.h>

#include "common/directory_lock.hpp"
#include "common/duration.hpp"
#include "common/files.hpp"
#include "daemon/log.hpp"
#include "disk/disk_catalog.hpp"
#include "disk/rotation.hpp"
#include "io/ring_operation.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_providers.hpp"
#include "nbd/exports.hpp"

namespace hostcrypt::daemon {

namespace {

// Who the vault audit log names for unwraps the daemon makes.
constexpr const char* daemon_actor = "hostcryptd";

unsigned reactor_count(unsigned configured) {
    if (configured != 0) {
        return configured;
    }
    const unsigned cores = std::thread::hardware_concurrency();
    return cores == 0 ? 1 : cores;
}

// The state directory is shared with the offline hostcrypt tool, which holds
// its lock for the length of one command: wait that out rather than fail.
DirectoryLock lock_state(const std::filesystem::path& directory) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        try {
            return DirectoryLock(directory);
        } catch (const Error&) {
            if (std::chrono::steady_clock::now() >= deadline) {
                throw;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
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

Server::Server(DaemonConfig config) : config_(std::move(config)) {}

Server::~Server() {
    if (started_) {
        stop();
    }
}

void Server::load_catalog() {
    ensure_private_directory(config_.state_directory);
    const DirectoryLock lock = lock_state(config_.state_directory);
    keys::KeyProviders providers(config_.state_directory, daemon_actor);
    disk::DiskCatalog catalog(config_.state_directory / "disks");

    std::set<std::string> in_catalog;
    disk::ServeOptions options;
    options.direct_io = config_.direct_io;
    options.read_only = config_.read_only;
    for (const disk::CatalogEntry& entry : catalog.list()) {
        in_catalog.insert(entry.name);
        if (exports_.contains(entry.name)) {
            continue;
        }
        try {
            std::string notice;
            auto served = disk::ServedDisk::open(entry, providers, options, &notice);
            nbd::validate_export(ExportRegistry::export_info(*served));
            if (!notice.empty()) {
                log("disk {}: {}", entry.name, notice);
            }
            log("disk {}: serving {} bytes, {} encryption, {}-byte sectors, from {}", entry.name,
                served->size(), keys::to_string(served->header().set_type), served->sector_size(),
                entry.path.string());
            exports_.add(std::move(served));
        } catch (const std::exception& error) {
            log("disk {}: not served: {}", entry.name, error.what());
        }
    }
    for (const auto& served : exports_.disks()) {
        if (!in_catalog.contains(served->name())) {
            exports_.remove(served->name());
            retired_.push_back(served);
            log("disk {}: no longer in the catalog, not offered any more", served->name());
        }
    }
}

void Server::start() {
    load_catalog();
    for (const ListenAddress& address : config_.listeners) {
        listeners_.push_back(open_listener(address));
    }
    const unsigned count = reactor_count(config_.reactors);
    for (unsigned index = 0; index < count; ++index) {
        auto slot = std::make_unique<ReactorSlot>();
        slot->reactor = std::make_unique<io::Reactor>(index);
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
        slot->thread = std::thread([&reactor] { reactor.run(); });
    }
    started_ = true;
}

void Server::reload() {
    load_catalog();
}

void Server::rotate_platform_key_if_due() {
    if (!config_.platform_key_max_age) {
        return;
    }
    try {
        const DirectoryLock lock = lock_state(config_.state_directory);
        keys::KeyProviders providers(config_.state_directory, daemon_actor);
        keys::SetStore sets(config_.state_directory / "sets");
        disk::DiskCatalog catalog(config_.state_directory / "disks");
        disk::Rotation rotation(catalog, sets, providers);
        const disk::PlatformRotation outcome =
            rotation.rotate_platform_key(config_.platform_key_max_age);
        if (outcome.added) {
            log("platform key: the newest version was older than {}: rotated to version {}",
                format_duration(*config_.platform_key_max_age), outcome.added->version);
        }
        for (const disk::RewrapOutcome& disk : outcome.rewrapped) {
            if (!disk.error.empty()) {
                log("disk {}: platform layer not re-wrapped (retried later): {}", disk.disk,
                    disk.error);
            } else if (disk.changed) {
                log("disk {}: platform layer re-wrapped under version {}", disk.disk,
                    outcome.newest.version);
            }
        }
        for (const std::uint32_t version : outcome.removed) {
            log("platform key: version {} deleted, no disk uses it any more", version);
        }
    } catch (const std::exception& error) {
        log("platform key rotation failed (retried later): {}", error.what());
    }
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
        if (tcp) {
            const int on = 1;
            ::setsockopt(result, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
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
        Connection::start(*target.reactor, target.connections, UniqueFd(socket), std::move(peer),
                          exports_, limits_);
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
    disks.insert(disks.end(), retired_.begin(), retired_.end());
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
