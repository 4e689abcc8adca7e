#pragma once

// Transmission replies, encoded into caller-provided fixed-size buffers: no
// allocation, no exceptions, one call per reply on the hot path. Read data is
// never copied here; it follows the encoded header in its own iovec.
//
// Which form a reply takes (spec, "Structured reply chunk message"):
// - without structured replies, every reply is a simple reply;
// - with them, a READ must get structured chunks, even for an early error;
//   other commands may get either. We send their successes as simple replies
//   (16 bytes against 20, and every structured-reply client must accept them)
//   and their errors as NBD_REPLY_TYPE_ERROR chunks, which the spec prefers
//   because they carry a message.
// encode_status_reply and encode_read_header make that choice; the encoders
// below them write one fixed form each.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "nbd/nbd_errno.hpp"
#include "nbd/request.hpp"

namespace hostcrypt::nbd {

inline constexpr std::size_t simple_reply_size = 16;
inline constexpr std::size_t chunk_header_size = 20;
inline constexpr std::size_t offset_data_header_size = chunk_header_size + 8;
// Error chunks carry at most this much message: enough for a reason, small
// enough for a fixed buffer. Longer messages are cut at a UTF-8 boundary.
inline constexpr std::size_t error_message_max = 64;
inline constexpr std::size_t error_chunk_max_size = chunk_header_size + 4 + 2 + error_message_max;
// Room for anything encode_status_reply or encode_read_header writes.
inline constexpr std::size_t reply_max_size = error_chunk_max_size;

// Magic, error, cookie. For a successful READ without structured replies the
// data follows.
void encode_simple_reply(std::span<std::byte, simple_reply_size> out, std::uint64_t cookie,
                         NbdErrno error) noexcept;

// An NBD_REPLY_TYPE_OFFSET_DATA chunk header with NBD_REPLY_FLAG_DONE: the
// whole read in one chunk, `data_length` bytes (1 to 2^32 - 9) following.
// DONE promises no error can follow, so encode it only once the data is in
// hand (read and decrypted).
void encode_offset_data_header(std::span<std::byte, offset_data_header_size> out,
                               std::uint64_t cookie, std::uint64_t offset,
                               std::uint32_t data_length) noexcept;

// An NBD_REPLY_TYPE_NONE chunk with NBD_REPLY_FLAG_DONE: success, no payload.
void encode_none_chunk(std::span<std::byte, chunk_header_size> out, std::uint64_t cookie) noexcept;

// An NBD_REPLY_TYPE_ERROR chunk with NBD_REPLY_FLAG_DONE; `error` must not be
// none. Returns the bytes written: 26 plus the (cut) message.
std::size_t encode_error_chunk(std::span<std::byte, error_chunk_max_size> out, std::uint64_t cookie,
                               NbdErrno error, std::string_view message) noexcept;

// The complete reply to any request except a successful READ with data (and
// NBD_CMD_DISC, which gets none): every non-read command, and a READ that
// failed or had length zero. Returns the bytes written.
std::size_t encode_status_reply(std::span<std::byte, reply_max_size> out, const Request& request,
                                bool structured_replies, NbdErrno error,
                                std::string_view message = {}) noexcept;

// What precedes the data of a successful READ: a simple reply, or an
// OFFSET_DATA header with DONE (see above); request.length bytes follow. A
// zero-length read gets its complete reply instead (a NONE chunk or a simple
// reply), since a data chunk must carry at least one byte. Returns the bytes
// written.
std::size_t encode_read_header(std::span<std::byte, reply_max_size> out, const Request& request,
                               bool structured_replies) noexcept;

}  // namespace hostcrypt::nbd
