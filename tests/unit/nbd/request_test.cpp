// Decoding request headers and every rule of check_request.

#include "nbd/request.hpp"

#include <array>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "nbd/nbd_wire.hpp"

using namespace hostcrypt::nbd;
using namespace hostcrypt::nbd::test;

namespace {

// Command types and flags as the spec numbers them.
constexpr std::uint16_t cmd_read = 0, cmd_write = 1, cmd_disc = 2, cmd_flush = 3, cmd_trim = 4,
                        cmd_cache = 5, cmd_write_zeroes = 6, cmd_block_status = 7, cmd_resize = 8;
constexpr std::uint16_t fua = 1, no_hole = 2, df = 4, req_one = 8, fast_zero = 16;

constexpr std::uint64_t size = 1ull << 30;  // sample_export()
constexpr std::uint32_t max_block = 32u << 20;

std::array<std::byte, request_header_size> header_bytes(const Bytes& bytes) {
    REQUIRE(bytes.size() == request_header_size);
    std::array<std::byte, request_header_size> header{};
    std::copy(bytes.begin(), bytes.end(), header.begin());
    return header;
}

Request request(std::uint16_t type, std::uint64_t offset, std::uint32_t length,
                std::uint16_t flags = 0) {
    return Request{.flags = flags, .type = type, .cookie = 42, .offset = offset, .length = length};
}

RequestCheck check(const Request& r, bool read_only = false, bool structured = false) {
    return check_request(r, sample_export("db", read_only), structured);
}

void check_ok(const RequestCheck& result) {
    CHECK(result.error == NbdErrno::none);
    CHECK_FALSE(result.close_connection);
    CHECK(result.reason.empty());
}

void check_refused(const RequestCheck& result, NbdErrno error, std::string_view reason) {
    CHECK(to_string(result.error) == std::string(to_string(error)));
    CHECK_FALSE(result.close_connection);
    CHECK(result.reason == reason);
}

}  // namespace

TEST_CASE("a request header decodes field by field", "[request]") {
    const auto header = header_bytes(Wire()
                                         .u32(0x25609513)
                                         .u16(0x0011)
                                         .u16(0x0006)
                                         .u64(0x0102030405060708)
                                         .u64(0xf0e0d0c0b0a09080)
                                         .u32(0x80000001));
    const std::optional<Request> decoded = decode_request(header);
    REQUIRE(decoded);
    CHECK(decoded->flags == 0x0011);
    CHECK(decoded->type == 0x0006);
    CHECK(decoded->cookie == 0x0102030405060708);
    CHECK(decoded->offset == 0xf0e0d0c0b0a09080);
    CHECK(decoded->length == 0x80000001);
}

TEST_CASE("a request header with the wrong magic does not decode", "[request][errors]") {
    const std::uint32_t magic = GENERATE(0x12560953u, 0x67446698u, 0x25609512u, 0x13956025u);
    CHECK_FALSE(
        decode_request(header_bytes(Wire().u32(magic).u16(0).u16(0).u64(1).u64(0).u32(512))));
}

TEST_CASE("only writes carry a payload", "[request]") {
    CHECK(has_payload(request(cmd_write, 0, 4096)));
    CHECK(has_payload(request(cmd_write, 0, 0)));
    for (const std::uint16_t type :
         {cmd_read, cmd_disc, cmd_flush, cmd_trim, cmd_cache, cmd_write_zeroes, cmd_block_status}) {
        CHECK_FALSE(has_payload(request(type, 0, 4096)));
    }
}

TEST_CASE("well-formed requests within the export pass", "[request]") {
    check_ok(check(request(cmd_read, 0, 4096)));
    check_ok(check(request(cmd_read, size - max_block, max_block)));
    check_ok(check(request(cmd_write, size - 4096, 4096, fua)));
    check_ok(check(request(cmd_trim, 0, size)));  // TRIM has no maximum
    check_ok(check(request(cmd_cache, 8192, 4096)));
    check_ok(check(request(cmd_write_zeroes, 4096, 8192, fua | no_hole)));
    check_ok(check(request(cmd_write_zeroes, 0, size, fast_zero)));
    check_ok(check(request(cmd_flush, 0, 0)));
    check_ok(check(request(cmd_flush, 0, 0, fua)));
    check_ok(check(request(cmd_read, 0, 4096, df), false, true));
    check_ok(check(request(cmd_read, 0, 4096, fua | df), false, true));
}

TEST_CASE("FUA is accepted on every command as the spec requires once advertised", "[request]") {
    for (const std::uint16_t type :
         {cmd_read, cmd_write, cmd_flush, cmd_trim, cmd_cache, cmd_write_zeroes}) {
        check_ok(check(request(type, 0, type == cmd_flush ? 0 : 4096, fua)));
    }
}

TEST_CASE("a disconnect is accepted whatever it carries", "[request]") {
    check_ok(check(request(cmd_disc, 0, 0)));
    check_ok(check(request(cmd_disc, 5, 7, 0xffff), true));
}

TEST_CASE("reads of the whole export and reads reaching its end pass", "[request]") {
    ExportInfo small = sample_export();
    small.size = 16384;
    check_ok(check_request(request(cmd_read, 0, 16384), small, false));
    check_ok(check_request(request(cmd_write, 12288, 4096), small, false));
}

TEST_CASE("zero-length requests inside the export succeed with nothing to do", "[request]") {
    for (const std::uint16_t type : {cmd_read, cmd_write, cmd_trim, cmd_cache, cmd_write_zeroes}) {
        check_ok(check(request(type, 0, 0)));
        check_ok(check(request(type, size, 0)));  // at the very end
    }
    check_refused(check(request(cmd_read, size + 4096, 0)), NbdErrno::einval,
                  "request beyond the end of the export");
    check_ok(check(request(cmd_read, 512, 0)));
}

TEST_CASE("unknown and unsupported commands get EINVAL", "[request][errors]") {
    const std::uint16_t type = GENERATE(as<std::uint16_t>{}, cmd_resize, 9, 0xffff);
    check_refused(check(request(type, 0, 4096)), NbdErrno::einval, "unknown command");
    check_refused(check(request(cmd_block_status, 0, 4096), false, true), NbdErrno::einval,
                  "no metadata context was negotiated");
}

TEST_CASE("flags not documented for a command get EINVAL", "[request][errors]") {
    struct Case {
        std::uint16_t type;
        std::uint16_t flags;
        bool structured;
    };
    const Case c = GENERATE(
        Case{cmd_read, no_hole, false}, Case{cmd_read, fast_zero, false},
        Case{cmd_read, req_one, false}, Case{cmd_read, df, false},  // DF needs structured replies
        Case{cmd_write, df, true}, Case{cmd_write, no_hole, false},
        Case{cmd_write, fast_zero, false}, Case{cmd_trim, no_hole, false},
        Case{cmd_trim, fast_zero, false}, Case{cmd_cache, df, true},
        Case{cmd_write_zeroes, df, true}, Case{cmd_write_zeroes, req_one, false},
        Case{cmd_flush, no_hole, false}, Case{cmd_read, 0x0020, false},
        Case{cmd_write, 0x8000, false}, Case{cmd_write_zeroes, 0xffff, true});
    check_refused(
        check(request(c.type, 0, c.type == cmd_flush ? 0 : 4096, c.flags), false, c.structured),
        NbdErrno::einval, "flag not valid for this command");
}

TEST_CASE("a flush with an offset or length gets EINVAL", "[request][errors]") {
    check_refused(check(request(cmd_flush, 4096, 0)), NbdErrno::einval,
                  "flush with nonzero offset or length");
    check_refused(check(request(cmd_flush, 0, 4096)), NbdErrno::einval,
                  "flush with nonzero offset or length");
}

TEST_CASE("writes to a read-only export get EPERM while reads and cache and flush pass",
          "[request][errors]") {
    for (const std::uint16_t type : {cmd_write, cmd_trim, cmd_write_zeroes}) {
        check_refused(check(request(type, 0, 4096), true), NbdErrno::eperm, "export is read-only");
    }
    check_ok(check(request(cmd_read, 0, 4096), true));
    check_ok(check(request(cmd_cache, 0, 4096), true));
    check_ok(check(request(cmd_flush, 0, 0), true));
}

TEST_CASE("requests past the end get ENOSPC for writes and EINVAL otherwise", "[request][errors]") {
    struct Case {
        std::uint64_t offset;
        std::uint32_t length;
    };
    const Case c = GENERATE(Case{size, 4096}, Case{size - 4096, 8192}, Case{size + 4096, 4096},
                            // offset + length wraps around 2^64
                            Case{0xfffffffffffff000, 0x2000}, Case{0xffffffffffffffff, 1},
                            Case{0, (1u << 20) + 4096});
    const char* reason = "request beyond the end of the export";
    ExportInfo small = sample_export();
    small.size = 1u << 20;
    const auto past = [&](std::uint16_t type) {
        return check_request(request(type, c.offset, c.length), small, false);
    };
    check_refused(past(cmd_write), NbdErrno::enospc, reason);
    check_refused(past(cmd_write_zeroes), NbdErrno::enospc, reason);
    check_refused(past(cmd_read), NbdErrno::einval, reason);
    check_refused(past(cmd_trim), NbdErrno::einval, reason);
    check_refused(past(cmd_cache), NbdErrno::einval, reason);
}

TEST_CASE("lengths above the maximum block get EINVAL where the spec sets a maximum",
          "[request][errors]") {
    const char* reason = "length above the maximum block size";
    check_refused(check(request(cmd_read, 0, max_block + 4096)), NbdErrno::einval, reason);
    check_refused(check(request(cmd_cache, 0, max_block + 4096)), NbdErrno::einval, reason);
    // TRIM and WRITE_ZEROES carry no payload and are exempt.
    check_ok(check(request(cmd_write_zeroes, 0, max_block + 4096)));
    check_ok(check(request(cmd_write_zeroes, 0, max_block + 4096, fast_zero)));
    check_ok(check(request(cmd_trim, 0, max_block + 4096)));
}

TEST_CASE("a write above the maximum is refused and closes only beyond 2^25 bytes",
          "[request][errors]") {
    // The sample's maximum is 2^25: anything larger cannot be taken in.
    const RequestCheck huge = check(request(cmd_write, 0, max_block + 4096));
    CHECK(huge.error == NbdErrno::einval);
    CHECK(huge.close_connection);
    CHECK(huge.reason == "write payload too large to accept");
    // It closes whatever else is wrong with the request, since the payload
    // would have to be read before the next header.
    CHECK(check(request(cmd_write, 1, 0xffffffff, 0xffff), true).close_connection);

    // Below 2^25 the spec asks servers not to disconnect, even above a
    // smaller advertised maximum: EINVAL, and the payload is discarded.
    ExportInfo small_max = sample_export();
    small_max.maximum_block = 1u << 20;
    const RequestCheck refused = check_request(request(cmd_write, 0, 2u << 20), small_max, false);
    check_refused(refused, NbdErrno::einval, "length above the maximum block size");
    CHECK(
        check_request(request(cmd_write, 0, (1u << 25) + 4096), small_max, false).close_connection);
    check_refused(check_request(request(cmd_write, 0, 1u << 25), small_max, false),
                  NbdErrno::einval, "length above the maximum block size");
}

TEST_CASE("offsets and lengths off the minimum block are accepted", "[request]") {
    // The daemon serves partial crypto sectors by read-modify-write, so the
    // minimum block is advice to the client, not a rule the server enforces.
    for (const std::uint16_t type : {cmd_read, cmd_write, cmd_trim, cmd_cache, cmd_write_zeroes}) {
        check_ok(check(request(type, 512, 4096)));
        check_ok(check(request(type, 4096, 4095)));
        check_ok(check(request(type, 1, 1)));
        check_ok(check(request(type, size - 1, 1)));
    }
}

TEST_CASE("check order: flags before read-only before range before size", "[request][errors]") {
    // Each request breaks every later rule too, so only the first can answer.
    check_refused(check(request(cmd_write, size + 1, 3, no_hole), true), NbdErrno::einval,
                  "flag not valid for this command");
    check_refused(check(request(cmd_write, size + 1, 3), true), NbdErrno::eperm,
                  "export is read-only");
    check_refused(check(request(cmd_read, size + 1, max_block + 3)), NbdErrno::einval,
                  "request beyond the end of the export");
    check_refused(check(request(cmd_read, 1, max_block + 3)), NbdErrno::einval,
                  "length above the maximum block size");
}
