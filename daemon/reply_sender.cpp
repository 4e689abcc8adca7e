#include "daemon/reply_sender.hpp"

#include <algorithm>

namespace hostcrypt::daemon {

void ReplySender::enqueue(OutgoingReply& reply) noexcept {
    reply.next = nullptr;
    reply.sent = 0;
    if (tail_ != nullptr) {
        tail_->next = &reply;
    } else {
        head_ = &reply;
    }
    tail_ = &reply;
    if (!in_flight_) {
        start_send();
    }
}

void ReplySender::start_send() noexcept {
    std::size_t count = 0;
    std::size_t replies = 0;
    for (OutgoingReply* reply = head_; reply != nullptr && replies < max_replies_per_send;
         reply = reply->next, ++replies) {
        // The first reply may be partly sent already; skip what went out.
        std::size_t skip = reply->sent;
        if (skip < reply->header_size) {
            iov_[count++] = iovec{reply->header.data() + skip, reply->header_size - skip};
            skip = 0;
        } else {
            skip -= reply->header_size;
        }
        if (skip < reply->data.size()) {
            // sendmsg takes a non-const iovec but only reads through it.
            auto* data = const_cast<std::byte*>(reply->data.data());  // NOLINT
            iov_[count++] = iovec{data + skip, reply->data.size() - skip};
        }
    }
    message_ = msghdr{};
    message_.msg_iov = iov_.data();
    message_.msg_iovlen = count;
    in_flight_ = true;
    io_uring_prep_sendmsg(reactor_.ring().prepare(*this), socket_, &message_, MSG_NOSIGNAL);
}

void ReplySender::complete(int result, std::uint32_t /*flags*/) {
    in_flight_ = false;
    if (result <= 0) {
        // The peer is gone or the socket failed: nothing queued can be sent.
        broken_ = true;
        while (head_ != nullptr) {
            OutgoingReply* reply = head_;
            head_ = reply->next;
            finish(*reply, false);
        }
        tail_ = nullptr;
        return;
    }
    auto left = static_cast<std::size_t>(result);
    while (head_ != nullptr && left > 0) {
        OutgoingReply& reply = *head_;
        const std::size_t remaining = reply.total() - reply.sent;
        const std::size_t taken = std::min(left, remaining);
        reply.sent += taken;
        left -= taken;
        if (reply.sent < reply.total()) {
            break;
        }
        head_ = reply.next;
        finish(reply, true);
    }
    if (head_ == nullptr) {
        tail_ = nullptr;
    } else {
        start_send();
    }
}

void ReplySender::finish(OutgoingReply& reply, bool delivered) noexcept {
    reply.delivered = delivered;
    // Deferred, not resumed here: the request's coroutine ends and frees the
    // reply as soon as it runs, and this loop still walks the queue.
    reactor_.defer(reply.waiter);
}

}  // namespace hostcrypt::daemon
