#pragma once

// Transmission requests: decoding the fixed 28-byte header and deciding, from
// the spec's rules alone, whether a request may be served. Both run once per
// request on the hot path: no allocation, no exceptions.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "nbd/exports.hpp"
#include "nbd/nbd_errno.hpp"
#include "nbd/protocol.hpp"

namespace hostcrypt::nbd {

struct Request {
    std::uint16_t flags = 0;
    std::uint16_t type = 0;
    std::uint64_t cookie = 0;  // the spec's "handle" in older revisions
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
};

inline constexpr std::size_t request_header_size = 28;

// std::nullopt when the magic is wrong: the stream has lost its framing and
// the connection must close.
std::optional<Request> decode_request(
    std::span<const std::byte, request_header_size> header) noexcept;

// An NBD_CMD_WRITE header is followed by `length` payload bytes, even when the
// request is refused; the caller must read (or discard) them before the next
// header unless it closes the connection.
inline bool has_payload(const Request& request) noexcept {
    return request.type == to_underlying(Command::write);
}

struct RequestCheck {
    NbdErrno error = NbdErrno::none;
    // The stream cannot continue: a write's payload too large to take in.
    // The caller may send the error reply, then must close without reading on.
    bool close_connection = false;
    // A short static text for the log or an error chunk; empty on success.
    std::string_view reason;
};

// Checks `request` against the chosen export (which validate_export accepted)
// and the negotiated reply mode, in this order:
//
// 1. NBD_CMD_WRITE longer than both the maximum block and 2^25 bytes: EINVAL
//    and close. The spec lets a server hard-disconnect over a payload large
//    enough to be a denial of service but asks it not to for anything under
//    2^25, even above the advertised maximum; such writes get EINVAL below
//    and their payload must be discarded.
// 2. NBD_CMD_DISC: accepted (no reply; the caller finishes what is in flight
//    and closes). NBD_CMD_BLOCK_STATUS: EINVAL, no metadata context can have
//    been negotiated. Unknown or unsupported types (RESIZE): EINVAL.
// 3. Flags: FUA on any command (we advertise SEND_FUA, so the spec makes the
//    server accept it everywhere); NO_HOLE and FAST_ZERO on WRITE_ZEROES; DF
//    on READ with structured replies. Any other bit: EINVAL.
// 4. FLUSH with a nonzero offset or length (reserved, MUST be zero): EINVAL.
// 5. WRITE, TRIM, WRITE_ZEROES on a read-only export: EPERM.
// 6. A range past the end of the export, including offset + length
//    overflowing 64 bits: ENOSPC for WRITE and WRITE_ZEROES, EINVAL for READ,
//    TRIM and CACHE, as the spec's error section says.
// 7. Length above the maximum block for READ, WRITE and CACHE: EINVAL. TRIM
//    and WRITE_ZEROES carry no data and may be as long as the export: the
//    spec lets a server accept them, the daemon works through them in
//    pieces, and the Linux nbd driver sends discards and zeroing far larger
//    than any block size.
// Offsets and lengths that are not multiples of the minimum block are
// accepted: the minimum block size says what is efficient (a whole crypto
// sector), and the daemon serves smaller pieces by read-modify-write.
//
// A zero-length READ, WRITE, TRIM, WRITE_ZEROES or CACHE that passes these
// checks (its offset at most the export size) succeeds with
// nothing to do: the spec leaves the behaviour open and asks only that the
// server not disconnect. encode_read_header answers a zero-length read.
RequestCheck check_request(const Request& request, const ExportInfo& info,
                           bool structured_replies) noexcept;

}  // namespace hostcrypt::nbd
