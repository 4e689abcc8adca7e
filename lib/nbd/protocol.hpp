#pragma once

// The NBD protocol's numbers, named as the specification names them
// (NetworkBlockDevice/nbd, doc/proto.md) without the NBD_ prefix, which the
// namespace already carries. Every value here goes on the wire big-endian.
//
// Only the fixed newstyle handshake exists on the server side: oldstyle is
// obsolete and hostcrypt never offers it.

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace hostcrypt::nbd {

// Handshake magics.
inline constexpr std::uint64_t nbdmagic = 0x4e42444d41474943;  // "NBDMAGIC"
inline constexpr std::uint64_t ihaveopt = 0x49484156454f5054;  // "IHAVEOPT"
inline constexpr std::uint64_t option_reply_magic = 0x0003e889045565a9;

// Transmission magics.
inline constexpr std::uint32_t request_magic = 0x25609513;
inline constexpr std::uint32_t simple_reply_magic = 0x67446698;
inline constexpr std::uint32_t structured_reply_magic = 0x668e33ef;

// Handshake flags (server, 16 bits).
inline constexpr std::uint16_t flag_fixed_newstyle = 1u << 0;
inline constexpr std::uint16_t flag_no_zeroes = 1u << 1;

// Client flags (32 bits).
inline constexpr std::uint32_t flag_c_fixed_newstyle = 1u << 0;
inline constexpr std::uint32_t flag_c_no_zeroes = 1u << 1;

// Transmission flags (16 bits).
inline constexpr std::uint16_t flag_has_flags = 1u << 0;
inline constexpr std::uint16_t flag_read_only = 1u << 1;
inline constexpr std::uint16_t flag_send_flush = 1u << 2;
inline constexpr std::uint16_t flag_send_fua = 1u << 3;
inline constexpr std::uint16_t flag_rotational = 1u << 4;
inline constexpr std::uint16_t flag_send_trim = 1u << 5;
inline constexpr std::uint16_t flag_send_write_zeroes = 1u << 6;
inline constexpr std::uint16_t flag_send_df = 1u << 7;
inline constexpr std::uint16_t flag_can_multi_conn = 1u << 8;
inline constexpr std::uint16_t flag_send_resize = 1u << 9;
inline constexpr std::uint16_t flag_send_cache = 1u << 10;
inline constexpr std::uint16_t flag_send_fast_zero = 1u << 11;

// Option types.
enum class Option : std::uint32_t {
    export_name = 1,
    abort = 2,
    list = 3,
    peek_export = 4,  // withdrawn
    starttls = 5,
    info = 6,
    go = 7,
    structured_reply = 8,
    list_meta_context = 9,
    set_meta_context = 10,
    extended_headers = 11,
};

// Option reply types; errors have bit 31 set.
enum class OptionReply : std::uint32_t {
    ack = 1,
    server = 2,
    info = 3,
    meta_context = 4,
    err_unsup = 0x80000001,
    err_policy = 0x80000002,
    err_invalid = 0x80000003,
    err_platform = 0x80000004,
    err_tls_reqd = 0x80000005,
    err_unknown = 0x80000006,
    err_shutdown = 0x80000007,
    err_block_size_reqd = 0x80000008,
    err_too_big = 0x80000009,
};

// Information types of NBD_OPT_INFO and NBD_OPT_GO.
enum class Info : std::uint16_t {
    export_ = 0,
    name = 1,
    description = 2,
    block_size = 3,
};

// Request types.
enum class Command : std::uint16_t {
    read = 0,
    write = 1,
    disc = 2,
    flush = 3,
    trim = 4,
    cache = 5,
    write_zeroes = 6,
    block_status = 7,
    resize = 8,  // experimental extension; never advertised
};

// Command flags (16 bits).
inline constexpr std::uint16_t cmd_flag_fua = 1u << 0;
inline constexpr std::uint16_t cmd_flag_no_hole = 1u << 1;
inline constexpr std::uint16_t cmd_flag_df = 1u << 2;
inline constexpr std::uint16_t cmd_flag_req_one = 1u << 3;
inline constexpr std::uint16_t cmd_flag_fast_zero = 1u << 4;

// Structured reply flags and chunk types; error chunks have bit 15 set.
inline constexpr std::uint16_t reply_flag_done = 1u << 0;

enum class ReplyType : std::uint16_t {
    none = 0,
    offset_data = 1,
    offset_hole = 2,
    block_status = 5,
    error = 0x8001,
    error_offset = 0x8002,
};

// The spec's bound on every string: export names, descriptions, messages.
inline constexpr std::size_t max_string_length = 4096;

// Sizes of the fixed parts of handshake messages.
inline constexpr std::size_t greeting_size = 18;  // NBDMAGIC, IHAVEOPT, handshake flags
inline constexpr std::size_t client_flags_size = 4;
inline constexpr std::size_t option_header_size = 16;  // IHAVEOPT, option, length
inline constexpr std::size_t option_reply_header_size = 20;
inline constexpr std::size_t export_name_zeroes = 124;

template <typename Enum>
constexpr auto to_underlying(Enum value) noexcept {
    return static_cast<std::underlying_type_t<Enum>>(value);
}

}  // namespace hostcrypt::nbd
