#pragma once

// Sends a connection's replies in the order they become ready — NBD lets
// replies overtake each other — with one sendmsg in flight at a time, so the
// bytes of two replies never interleave on the socket. Replies that are
// ready together go out in one sendmsg (up to 32 per call), which is what
// keeps small random reads cheap at high queue depths.
//
// Reactor thread only.

#include <array>
#include <coroutine>
#include <cstddef>
#include <span>
#include <sys/socket.h>
#include <sys/uio.h>

#include "io/completion.hpp"
#include "io/reactor.hpp"
#include "nbd/reply.hpp"

namespace hostcrypt::daemon {

// One reply: an encoded header and, for reads, the data after it. Lives in
// the frame of the request coroutine that waits for it to be sent.
struct OutgoingReply {
    std::array<std::byte, nbd::reply_max_size> header{};
    std::size_t header_size = 0;
    std::span<const std::byte> data;

    // Owned by the sender while queued.
    OutgoingReply* next = nullptr;
    std::size_t sent = 0;
    bool delivered = false;
    std::coroutine_handle<> waiter;

    std::size_t total() const noexcept { return header_size + data.size(); }
};

class ReplySender final : public io::Completion {
  public:
    ReplySender(io::Reactor& reactor, int socket) : reactor_(reactor), socket_(socket) {}

    // co_await sender.send(reply): true once every byte is handed to the
    // socket, false if the connection broke first.
    auto send(OutgoingReply& reply) noexcept {
        struct Awaiter {
            ReplySender& sender;
            OutgoingReply& reply;
            bool await_ready() const noexcept { return sender.broken_; }
            void await_suspend(std::coroutine_handle<> handle) noexcept {
                reply.waiter = handle;
                sender.enqueue(reply);
            }
            bool await_resume() const noexcept { return reply.delivered; }
        };
        return Awaiter{*this, reply};
    }

    bool broken() const noexcept { return broken_; }
    void complete(int result, std::uint32_t flags) override;

  private:
    static constexpr std::size_t max_replies_per_send = 32;

    void enqueue(OutgoingReply& reply) noexcept;
    void start_send() noexcept;
    void finish(OutgoingReply& reply, bool delivered) noexcept;

    io::Reactor& reactor_;
    int socket_;
    OutgoingReply* head_ = nullptr;
    OutgoingReply* tail_ = nullptr;
    std::array<iovec, 2 * max_replies_per_send> iov_{};
    msghdr message_{};
    bool in_flight_ = false;
    bool broken_ = false;
};

}  // namespace hostcrypt::daemon
