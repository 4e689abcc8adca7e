#include "nbd/reply.hpp"

#include <algorithm>

#include "nbd/protocol.hpp"
#include "nbd/wire.hpp"

namespace hostcrypt::nbd {

namespace {

void encode_chunk_header(std::span<std::byte> out, std::uint64_t cookie, ReplyType type,
                         std::uint32_t length) noexcept {
    wire::store_be(out, 0, structured_reply_magic);
    wire::store_be(out, 4, reply_flag_done);
    wire::store_be(out, 6, to_underlying(type));
    wire::store_be(out, 8, cookie);
    wire::store_be(out, 16, length);
}

// Cuts at a character boundary so the client is never sent half a UTF-8
// sequence: a continuation byte (10xxxxxx) cannot start the cut-off part.
std::string_view cut_message(std::string_view message) noexcept {
    if (message.size() <= error_message_max) {
        return message;
    }
    std::size_t end = error_message_max;
    while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xc0) == 0x80) {
        --end;
    }
    return message.substr(0, end);
}

}  // namespace

void encode_simple_reply(std::span<std::byte, simple_reply_size> out, std::uint64_t cookie,
                         NbdErrno error) noexcept {
    wire::store_be(out, 0, simple_reply_magic);
    wire::store_be(out, 4, to_underlying(error));
    wire::store_be(out, 8, cookie);
}

void encode_offset_data_header(std::span<std::byte, offset_data_header_size> out,
                               std::uint64_t cookie, std::uint64_t offset,
                               std::uint32_t data_length) noexcept {
    encode_chunk_header(out, cookie, ReplyType::offset_data, data_length + 8);
    wire::store_be(out, chunk_header_size, offset);
}

void encode_none_chunk(std::span<std::byte, chunk_header_size> out, std::uint64_t cookie) noexcept {
    encode_chunk_header(out, cookie, ReplyType::none, 0);
}

std::size_t encode_error_chunk(std::span<std::byte, error_chunk_max_size> out, std::uint64_t cookie,
                               NbdErrno error, std::string_view message) noexcept {
    const std::string_view text = cut_message(message);
    const auto text_length = static_cast<std::uint16_t>(text.size());
    encode_chunk_header(out, cookie, ReplyType::error, 4u + 2u + text_length);
    wire::store_be(out, chunk_header_size, to_underlying(error));
    wire::store_be(out, chunk_header_size + 4, text_length);
    std::transform(text.begin(), text.end(), out.begin() + chunk_header_size + 6,
                   [](char c) { return static_cast<std::byte>(c); });
    return chunk_header_size + 6 + text.size();
}

std::size_t encode_status_reply(std::span<std::byte, reply_max_size> out, const Request& request,
                                bool structured_replies, NbdErrno error,
                                std::string_view message) noexcept {
    if (!structured_replies) {
        encode_simple_reply(out.first<simple_reply_size>(), request.cookie, error);
        return simple_reply_size;
    }
    if (error != NbdErrno::none) {
        return encode_error_chunk(out.first<error_chunk_max_size>(), request.cookie, error,
                                  message);
    }
    if (request.type == to_underlying(Command::read)) {
        encode_none_chunk(out.first<chunk_header_size>(), request.cookie);
        return chunk_header_size;
    }
    encode_simple_reply(out.first<simple_reply_size>(), request.cookie, error);
    return simple_reply_size;
}

std::size_t encode_read_header(std::span<std::byte, reply_max_size> out, const Request& request,
                               bool structured_replies) noexcept {
    if (!structured_replies || request.length == 0) {
        return encode_status_reply(out, request, structured_replies, NbdErrno::none);
    }
    encode_offset_data_header(out.first<offset_data_header_size>(), request.cookie, request.offset,
                              request.length);
    return offset_data_header_size;
}

}  // namespace hostcrypt::nbd
