#pragma once

// One NBD client connection, living on one reactor from accept to close: the
// handshake, then a receive loop that decodes requests and starts one
// coroutine per request (daemon/requests.hpp), many in flight at once, with
// replies sent as they complete.
//
// Memory stays bounded per connection: one receive buffer, and at most
// `max_requests` requests holding at most `max_bytes` of buffers; beyond
// that the receive loop waits, which pushes back on the client through TCP
// or the unix socket.
//
// Reactor thread only.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "crypto/cipher_stack.hpp"
#include "daemon/export_registry.hpp"
#include "daemon/helping_hands.hpp"
#include "daemon/reply_sender.hpp"
#include "disk/served_disk.hpp"
#include "io/buffer_pool.hpp"
#include "io/reactor.hpp"
#include "io/task.hpp"
#include "io/wait_group.hpp"
#include "nbd/exports.hpp"
#include "nbd/request.hpp"

namespace hostcrypt::daemon {

struct ConnectionLimits {
    std::size_t max_requests = 128;
    std::size_t max_bytes = std::size_t{96} << 20;
    std::size_t receive_buffer = std::size_t{256} << 10;
    // Which steps may run on other reactors (daemon/helping_hands.hpp).
    LendingPolicy lending;
};

class ConnectionSet;

class Connection {
  public:
    // Starts serving `socket` on `reactor` (call on the reactor's thread).
    // `reactors` are all of the daemon's, which may lend a hand with large
    // requests. The connection frees itself when it closes.
    static void start(io::Reactor& reactor, std::span<io::Reactor* const> reactors,
                      ConnectionSet& set, UniqueFd socket, std::string peer,
                      const ExportRegistry& exports, const ConnectionLimits& limits);

    // Stops taking requests: those in flight finish and are answered, then
    // the connection closes. For daemon shutdown.
    void stop_receiving() noexcept;
    // Builds or drops the cipher now if the disk's keys changed, rather than
    // at the next request: after a revocation, an idle connection must not
    // keep expanded keys in memory.
    void refresh_cipher() noexcept;

    // For the request coroutines.
    io::Reactor& reactor() noexcept { return reactor_; }
    disk::ServedDisk& disk() noexcept { return *disk_; }
    bool structured_replies() const noexcept { return structured_replies_; }
    ReplySender& sender() noexcept { return *sender_; }
    // The calling thread's cipher for the disk's current keys, or null while
    // they are revoked. Cheap: one atomic load unless the keys changed.
    crypto::CipherStack* cipher() noexcept;
    // The same for the disk's host cache: null without one, or while revoked.
    crypto::CipherStack* cache_cipher() noexcept;
    // Other reactors that may do a large step of a request.
    HelpingHands& helping_hands() noexcept { return *helping_hands_; }
    // A request ended: its reply is sent (or the connection broke).
    void request_done(std::size_t charged_bytes) noexcept;
    const std::string& label() const noexcept { return label_; }

  private:
    Connection(io::Reactor& reactor, std::span<io::Reactor* const> reactors, ConnectionSet& set,
               UniqueFd socket, std::string peer, const ExportRegistry& exports,
               const ConnectionLimits& limits);
    ~Connection();

    io::DetachedTask run();
    io::Task<bool> negotiate();
    io::Task<bool> transmit();
    io::Task<bool> receive_more();
    io::Task<bool> send_all(std::span<const std::byte> bytes);
    io::Task<bool> receive_into(std::span<std::byte> destination);
    std::span<const std::byte> received() const noexcept {
        return {receive_buffer_.data() + received_begin_, received_end_ - received_begin_};
    }
    // Bytes of buffer a request needs for its data (0 if none).
    std::size_t buffer_bytes_for(const nbd::Request& request, bool accepted) const noexcept;

    io::Reactor& reactor_;
    std::span<io::Reactor* const> reactors_;
    ConnectionSet& set_;
    UniqueFd socket_;
    std::string peer_;
    std::string label_;
    const ExportRegistry& exports_;
    ConnectionLimits limits_;

    std::vector<std::byte> receive_buffer_;
    std::size_t received_begin_ = 0;
    std::size_t received_end_ = 0;
    bool receiving_ = true;

    std::shared_ptr<disk::ServedDisk> disk_;
    nbd::ExportInfo export_;
    bool structured_replies_ = false;
    std::unique_ptr<ReplySender> sender_;
    std::unique_ptr<HelpingHands> helping_hands_;
    io::WaitGroup requests_;
    io::WaitGroup bytes_;

    void rebuild_ciphers() noexcept;

    std::optional<crypto::CipherStack> cipher_;
    std::optional<crypto::CipherStack> cache_cipher_;
    std::uint64_t cipher_generation_ = 0;
};

// The connections of one reactor, for shutdown and key changes. Reactor
// thread only.
class ConnectionSet {
  public:
    void add(Connection& connection) { connections_.push_back(&connection); }
    void remove(Connection& connection) noexcept;
    void stop_receiving_all() noexcept;
    void refresh_ciphers() noexcept;
    std::size_t size() const noexcept { return connections_.size(); }

  private:
    std::vector<Connection*> connections_;
};

}  // namespace hostcrypt::daemon
