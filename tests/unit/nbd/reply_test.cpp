// Reply encoders byte for byte, and which form each reply takes in each mode.

#include "nbd/reply.hpp"

#include <array>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "nbd/nbd_wire.hpp"

using namespace hostcrypt::nbd;
using namespace hostcrypt::nbd::test;

namespace {

constexpr std::uint64_t cookie = 0x1122334455667788;
constexpr std::uint16_t cmd_read = 0, cmd_write = 1, cmd_flush = 3, cmd_trim = 4;

// Buffers start filled with a marker so bytes the encoder should not touch
// can be told from bytes it wrote as zero.
template <std::size_t N>
std::array<std::byte, N> marked() {
    std::array<std::byte, N> buffer{};
    buffer.fill(std::byte{0xee});
    return buffer;
}

template <std::size_t N>
Bytes first(const std::array<std::byte, N>& buffer, std::size_t count) {
    return Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(count));
}

Bytes simple(std::uint32_t error) {
    return Wire().u32(0x67446698).u32(error).u64(cookie);
}

Bytes chunk(std::uint16_t type, std::uint32_t length) {
    return Wire().u32(0x668e33ef).u16(1).u16(type).u64(cookie).u32(length);
}

Bytes error_chunk(std::uint32_t error, std::string_view message) {
    return cat({chunk(0x8001, static_cast<std::uint32_t>(6 + message.size())),
                Wire().u32(error).u16(static_cast<std::uint16_t>(message.size())).text(message)});
}

Request request(std::uint16_t type, std::uint32_t length = 4096) {
    return Request{.flags = 0, .type = type, .cookie = cookie, .offset = 0x10000, .length = length};
}

}  // namespace

TEST_CASE("a simple reply is magic then error then cookie", "[reply]") {
    auto buffer = marked<simple_reply_size>();
    encode_simple_reply(buffer, cookie, NbdErrno::none);
    CHECK(first(buffer, 16) == simple(0));
    encode_simple_reply(buffer, cookie, NbdErrno::eshutdown);
    CHECK(first(buffer, 16) == simple(108));
}

TEST_CASE("an OFFSET_DATA header covers offset and data with DONE set", "[reply]") {
    auto buffer = marked<offset_data_header_size>();
    encode_offset_data_header(buffer, cookie, 0x0123456789abcdef, 32u << 20);
    CHECK(first(buffer, 28) == cat({chunk(1, (32u << 20) + 8), Wire().u64(0x0123456789abcdef)}));
    encode_offset_data_header(buffer, cookie, 0, 1);
    CHECK(first(buffer, 28) == cat({chunk(1, 9), Wire().u64(0)}));
}

TEST_CASE("a NONE chunk is a bare header with DONE", "[reply]") {
    auto buffer = marked<chunk_header_size>();
    encode_none_chunk(buffer, cookie);
    CHECK(first(buffer, 20) == chunk(0, 0));
}

TEST_CASE("an ERROR chunk carries the error and its message", "[reply]") {
    auto buffer = marked<error_chunk_max_size>();
    CHECK(encode_error_chunk(buffer, cookie, NbdErrno::eio, "storage failed") == 26 + 14);
    CHECK(first(buffer, 40) == error_chunk(5, "storage failed"));
    CHECK(buffer[40] == std::byte{0xee});

    CHECK(encode_error_chunk(buffer, cookie, NbdErrno::einval, "") == 26);
    CHECK(first(buffer, 26) == error_chunk(22, ""));
}

TEST_CASE("ERROR chunk messages are cut to 64 bytes on a character boundary", "[reply]") {
    auto buffer = marked<error_chunk_max_size>();
    const std::string ascii(100, 'm');
    CHECK(encode_error_chunk(buffer, cookie, NbdErrno::eio, ascii) == 90);
    CHECK(first(buffer, 90) == error_chunk(5, std::string(64, 'm')));

    // 63 ASCII bytes then "é" (two bytes) straddles the limit: it is dropped
    // whole rather than split.
    const std::string straddling = std::string(63, 'm') + "\xc3\xa9" + "tail";
    CHECK(encode_error_chunk(buffer, cookie, NbdErrno::eio, straddling) == 26 + 63);
    CHECK(first(buffer, 89) == error_chunk(5, std::string(63, 'm')));

    const std::string fitting = std::string(62, 'm') + "\xc3\xa9" + "tail";
    CHECK(encode_error_chunk(buffer, cookie, NbdErrno::eio, fitting) == 90);
    CHECK(first(buffer, 90) == error_chunk(5, std::string(62, 'm') + "\xc3\xa9"));
}

TEST_CASE("without structured replies every status reply is a simple reply", "[reply]") {
    const std::uint16_t type =
        GENERATE(as<std::uint16_t>{}, cmd_read, cmd_write, cmd_flush, cmd_trim);
    auto buffer = marked<reply_max_size>();
    CHECK(encode_status_reply(buffer, request(type), false, NbdErrno::none) == 16);
    CHECK(first(buffer, 16) == simple(0));
    CHECK(encode_status_reply(buffer, request(type), false, NbdErrno::enospc, "full") == 16);
    CHECK(first(buffer, 16) == simple(28));
    CHECK(buffer[16] == std::byte{0xee});
}

TEST_CASE("with structured replies errors are ERROR chunks for every command", "[reply]") {
    const std::uint16_t type =
        GENERATE(as<std::uint16_t>{}, cmd_read, cmd_write, cmd_flush, cmd_trim);
    auto buffer = marked<reply_max_size>();
    CHECK(encode_status_reply(buffer, request(type), true, NbdErrno::eperm,
                              "export is read-only") == 26 + 19);
    CHECK(first(buffer, 45) == error_chunk(1, "export is read-only"));
}

TEST_CASE("with structured replies successes are simple except a read's NONE chunk", "[reply]") {
    auto buffer = marked<reply_max_size>();
    const std::uint16_t type = GENERATE(as<std::uint16_t>{}, cmd_write, cmd_flush, cmd_trim);
    CHECK(encode_status_reply(buffer, request(type), true, NbdErrno::none) == 16);
    CHECK(first(buffer, 16) == simple(0));
    CHECK(encode_status_reply(buffer, request(cmd_read, 0), true, NbdErrno::none) == 20);
    CHECK(first(buffer, 20) == chunk(0, 0));
}

TEST_CASE("a read's data follows a simple reply or one OFFSET_DATA chunk header", "[reply]") {
    auto buffer = marked<reply_max_size>();
    CHECK(encode_read_header(buffer, request(cmd_read, 8192), false) == 16);
    CHECK(first(buffer, 16) == simple(0));
    CHECK(encode_read_header(buffer, request(cmd_read, 8192), true) == 28);
    CHECK(first(buffer, 28) == cat({chunk(1, 8192 + 8), Wire().u64(0x10000)}));
}

TEST_CASE("a zero-length read is answered whole and never with an empty data chunk", "[reply]") {
    auto buffer = marked<reply_max_size>();
    CHECK(encode_read_header(buffer, request(cmd_read, 0), false) == 16);
    CHECK(first(buffer, 16) == simple(0));
    CHECK(encode_read_header(buffer, request(cmd_read, 0), true) == 20);
    CHECK(first(buffer, 20) == chunk(0, 0));
}
