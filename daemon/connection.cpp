#include "daemon/connection.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <new>
#include <sys/socket.h>

#include "daemon/log.hpp"
#include "daemon/requests.hpp"
#include "io/ring_operation.hpp"
#include "io/transfer.hpp"
#include "nbd/handshake.hpp"
#include "nbd/protocol.hpp"

namespace hostcrypt::daemon {

namespace {

static_assert(ConnectionLimits{}.max_bytes > 2 * std::size_t{nbd::max_payload_size},
              "a connection must be able to hold the largest request");

std::atomic<std::uint64_t> next_connection_id{1};

// The part of a READ or WRITE's sector span before its first byte.
std::size_t head_bytes(const nbd::Request& request, std::uint32_t sector_size) noexcept {
    return static_cast<std::size_t>(request.offset % sector_size);
}

}  // namespace

void Connection::start(io::Reactor& reactor, std::span<io::Reactor* const> reactors,
                       ConnectionSet& set, UniqueFd socket, std::string peer,
                       const ExportRegistry& exports, const ConnectionLimits& limits) {
    auto* connection =
        new Connection(reactor, reactors, set, std::move(socket), std::move(peer), exports, limits);
    connection->run();
}

Connection::Connection(io::Reactor& reactor, std::span<io::Reactor* const> reactors,
                       ConnectionSet& set, UniqueFd socket, std::string peer,
                       const ExportRegistry& exports, const ConnectionLimits& limits)
    : reactor_(reactor),
      reactors_(reactors),
      set_(set),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      label_("connection " + std::to_string(next_connection_id.fetch_add(1)) + " from " + peer_),
      exports_(exports),
      limits_(limits),
      receive_buffer_(limits.receive_buffer),
      requests_(reactor),
      bytes_(reactor) {
    reactor_.hold();
    set_.add(*this);
}

Connection::~Connection() {
    if (disk_) {
        disk_->counters().connections.fetch_sub(1, std::memory_order_relaxed);
    }
    set_.remove(*this);
    reactor_.release();
}

void Connection::stop_receiving() noexcept {
    receiving_ = false;
    // Ends a pending receive (it returns 0) without touching the send side,
    // so replies to the requests in flight still go out.
    ::shutdown(socket_.get(), SHUT_RD);
}

// A note on style in the coroutines below: co_await never appears inside a
// condition (if, while, &&, ?:). GCC 12 miscompiles that and resumes a
// caller whose frame it has already torn down; every awaited value is first
// stored in a local.
io::DetachedTask Connection::run() {
    const bool negotiated = co_await negotiate();
    if (negotiated) {
        sender_ = std::make_unique<ReplySender>(reactor_, socket_.get());
        co_await transmit();
    }
    co_await requests_.idle();
    delete this;
}

io::Task<bool> Connection::negotiate() {
    std::vector<std::byte> out;
    std::optional<nbd::ServerHandshake> handshake;
    try {
        handshake.emplace(exports_);
        handshake->start(out);
    } catch (const std::exception& error) {
        log("{}: closed: cannot start the handshake: {}", label_, error.what());
        co_return false;
    }
    const bool greeted = co_await send_all(out);
    if (!greeted) {
        co_return false;
    }
    for (;;) {
        out.clear();
        std::size_t consumed = 0;
        try {
            consumed = handshake->feed(received(), out);
        } catch (const std::exception& error) {
            log("{}: closed during the handshake: {}", label_, error.what());
            co_return false;
        }
        received_begin_ += consumed;
        if (!out.empty()) {
            const bool sent = co_await send_all(out);
            if (!sent) {
                co_return false;
            }
        }
        const nbd::HandshakeState state = handshake->state();
        if (state == nbd::HandshakeState::transmission) {
            break;
        }
        if (state == nbd::HandshakeState::failed) {
            log("{}: closed during the handshake: {}", label_, handshake->failure());
        }
        if (state != nbd::HandshakeState::negotiating) {
            co_return false;
        }
        const bool more = co_await receive_more();
        if (!more) {
            co_return false;
        }
    }
    export_ = handshake->chosen_export();
    structured_replies_ = handshake->structured_replies();
    disk_ = exports_.attach(export_.name);
    if (!disk_) {
        log("{}: closed: export {} was removed during the handshake", label_, export_.name);
        co_return false;
    }
    label_ += " (" + export_.name + ")";
    helping_hands_ = std::make_unique<HelpingHands>(reactor_, reactors_, *disk_, limits_.lending);
    log("{}: serving export {}{}", label_, export_.name,
        structured_replies_ ? " with structured replies" : "");
    co_return true;
}

io::Task<bool> Connection::transmit() {
    for (;;) {
        while (received().size() < nbd::request_header_size) {
            const bool more = co_await receive_more();
            if (!more) {
                if (!receiving_) {
                    log("{}: closed: the daemon is stopping", label_);
                } else if (received().empty()) {
                    log("{}: client closed the connection", label_);
                } else {
                    log("{}: closed: the client left in the middle of a request header", label_);
                }
                co_return true;
            }
        }
        const auto request = nbd::decode_request(received().first<nbd::request_header_size>());
        if (!request) {
            log("{}: closed: a request with a wrong magic (the stream lost its framing)", label_);
            co_return false;
        }
        received_begin_ += nbd::request_header_size;

        const nbd::RequestCheck check = nbd::check_request(*request, export_, structured_replies_);
        if (check.close_connection) {
            log("{}: closed: {}", label_, check.reason);
            co_return false;
        }
        if (request->type == nbd::to_underlying(nbd::Command::disc)) {
            log("{}: client disconnected", label_);
            co_return true;
        }

        co_await requests_.below(limits_.max_requests);
        const bool accepted = check.error == nbd::NbdErrno::none;
        const std::size_t need = buffer_bytes_for(*request, accepted);
        if (need > 0) {
            co_await bytes_.below(limits_.max_bytes - need + 1);
        }
        nbd::NbdErrno error = check.error;
        io::Buffer buffer;
        if (need > 0) {
            try {
                buffer = reactor_.buffers().acquire(need);
            } catch (const std::bad_alloc&) {
                error = nbd::NbdErrno::enomem;
            }
        }
        if (nbd::has_payload(*request)) {
            bool received_payload = false;
            if (buffer) {
                const std::size_t at = accepted ? head_bytes(*request, disk_->sector_size()) : 0;
                received_payload =
                    co_await receive_into(std::span(buffer.data() + at, request->length));
            } else {
                // No buffer for it: take the payload in and drop it.
                received_payload = true;
                std::size_t left = request->length;
                while (received_payload && left > 0) {
                    const std::size_t chunk = std::min(left, receive_buffer_.size());
                    received_payload =
                        co_await receive_into(std::span(receive_buffer_.data(), chunk));
                    left -= chunk;
                }
            }
            if (!received_payload) {
                log("{}: closed: the client left in the middle of a write's payload", label_);
                co_return false;
            }
        }
        requests_.add();
        bytes_.add(need);
        reactor_.own_request_began();
        serve_request(*this, *request, error, std::move(buffer), need);
    }
}

std::size_t Connection::buffer_bytes_for(const nbd::Request& request,
                                         bool accepted) const noexcept {
    const bool read = request.type == nbd::to_underlying(nbd::Command::read);
    const bool write = nbd::has_payload(request);
    if (!read && !write) {
        return 0;
    }
    if (!accepted) {
        // A refused write's payload is still taken in (and dropped);
        // check_request closed the connection if it was too large for that.
        return write ? request.length : 0;
    }
    if (request.length == 0) {
        return 0;
    }
    const std::uint64_t sector = disk_->sector_size();
    const std::uint64_t first = request.offset / sector;
    const std::uint64_t end = (request.offset + request.length + sector - 1) / sector;
    return static_cast<std::size_t>((end - first) * sector);
}

io::Task<bool> Connection::receive_more() {
    if (!receiving_) {
        co_return false;
    }
    if (received_begin_ > 0) {
        const std::size_t kept = received_end_ - received_begin_;
        std::memmove(receive_buffer_.data(), receive_buffer_.data() + received_begin_, kept);
        received_begin_ = 0;
        received_end_ = kept;
    }
    std::byte* free_space = receive_buffer_.data() + received_end_;
    const std::size_t free_bytes = receive_buffer_.size() - received_end_;
    const int result = co_await io::on_ring(reactor_, [&](io_uring_sqe* sqe) {
        io_uring_prep_recv(sqe, socket_.get(), free_space, free_bytes, 0);
    });
    if (result <= 0 || !receiving_) {
        co_return false;
    }
    received_end_ += static_cast<std::size_t>(result);
    co_return true;
}

io::Task<bool> Connection::receive_into(std::span<std::byte> destination) {
    const std::size_t buffered = std::min(destination.size(), received().size());
    std::memcpy(destination.data(), received().data(), buffered);
    received_begin_ += buffered;
    const std::span<std::byte> rest = destination.subspan(buffered);
    const int result =
        co_await io::transfer_all(reactor_, rest.size(), [&](io_uring_sqe* sqe, std::size_t done) {
            io_uring_prep_recv(sqe, socket_.get(), rest.data() + done, rest.size() - done,
                               MSG_WAITALL);
        });
    co_return result == 0;
}

io::Task<bool> Connection::send_all(std::span<const std::byte> bytes) {
    const int result =
        co_await io::transfer_all(reactor_, bytes.size(), [&](io_uring_sqe* sqe, std::size_t done) {
            io_uring_prep_send(sqe, socket_.get(), bytes.data() + done, bytes.size() - done,
                               MSG_NOSIGNAL);
        });
    co_return result == 0;
}

void Connection::rebuild_ciphers() noexcept {
    const std::uint64_t generation = disk_->keys().generation();
    if (generation == cipher_generation_) {
        return;
    }
    cipher_.reset();
    cache_cipher_.reset();
    const disk::KeySlot::Snapshot snapshot = disk_->keys().snapshot();
    if (snapshot.keys) {
        try {
            cipher_.emplace(snapshot.keys->make_cipher());
            if (!snapshot.keys->cache_deks.empty()) {
                cache_cipher_.emplace(snapshot.keys->make_cache_cipher());
            }
        } catch (const std::exception& error) {
            // Requests fail with EIO until the keys change again.
            cipher_.reset();
            cache_cipher_.reset();
            log("{}: cannot build the cipher for disk {}: {}", label_, disk_->name(), error.what());
        }
    }
    cipher_generation_ = snapshot.generation;
}

crypto::CipherStack* Connection::cipher() noexcept {
    rebuild_ciphers();
    return cipher_ ? &*cipher_ : nullptr;
}

crypto::CipherStack* Connection::cache_cipher() noexcept {
    rebuild_ciphers();
    return cache_cipher_ ? &*cache_cipher_ : nullptr;
}

void Connection::request_done(std::size_t charged_bytes) noexcept {
    bytes_.done(charged_bytes);
    requests_.done();
    reactor_.own_request_ended();
}

void ConnectionSet::remove(Connection& connection) noexcept {
    std::erase(connections_, &connection);
}

void Connection::refresh_cipher() noexcept {
    if (disk_) {
        cipher();
        helping_hands_->refresh();
    }
}

void ConnectionSet::refresh_ciphers() noexcept {
    for (Connection* connection : connections_) {
        connection->refresh_cipher();
    }
}

void ConnectionSet::stop_receiving_all() noexcept {
    for (Connection* connection : connections_) {
        connection->stop_receiving();
    }
}

}  // namespace hostcrypt::daemon
