#pragma once

// The server side of the fixed newstyle handshake as an incremental state
// machine with no I/O: the connection hands it whatever bytes it has and
// sends whatever it appends.
//
//   ServerHandshake handshake(directory);
//   handshake.start(out);                     // the greeting
//   n = handshake.feed(received, out);        // replies appended to out
//   // drop n bytes from received; keep the rest and read more
//
// feed consumes whole messages only (the client flags, then each option
// header with its payload) and never buffers: a partial message is left to
// the caller, who offers it again with more bytes. So a caller's buffer never
// needs more than max_message_size() bytes, and feed reports failure as soon
// as an option header announces more than the limit, before its payload has
// arrived.
//
// Once the state leaves `negotiating`, feed consumes nothing more: bytes after
// the message that ended the handshake are the first transmission request.
//
// Spec decisions (NetworkBlockDevice/nbd doc/proto.md):
// - NBD_INFO_BLOCK_SIZE is sent with every successful NBD_OPT_INFO and
//   NBD_OPT_GO, requested or not: our minimum block (the crypto sector) and
//   maximum differ from the spec's defaults, which the spec says a server
//   SHOULD advertise, and it allows unrequested information. Clients that did
//   not ask are not refused (no NBD_REP_ERR_BLOCK_SIZE_REQD): the daemon
//   serves unaligned requests by read-modify-write, so check_request admits
//   them.
// - A second NBD_OPT_STRUCTURED_REPLY is answered NBD_REP_ERR_INVALID, as the
//   spec allows for repeated state-changing options; the first still holds.
// - NBD_OPT_STARTTLS, the meta-context options and every unknown option are
//   answered NBD_REP_ERR_UNSUP (NOTLS mode) and negotiation goes on.
// - NBD_OPT_ABORT is acknowledged even with a payload, which the spec asks
//   servers to ignore.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/exports.hpp"

namespace hostcrypt::nbd {

struct HandshakeLimits {
    // The largest option payload accepted. A longer one is answered
    // NBD_REP_ERR_TOO_BIG and the handshake fails, since skipping it would
    // mean reading an unbounded amount from an unauthenticated peer.
    std::uint32_t max_option_length = 64 * 1024;
};

// The limit must admit an NBD_OPT_GO naming the longest name the spec allows
// (4096 bytes) and requesting each of the four information types; the upper
// bound keeps a connection's handshake buffer small.
inline constexpr std::uint32_t min_option_length_limit = 4 + 4096 + 2 + 2 * 4;
inline constexpr std::uint32_t max_option_length_limit = 16u << 20;

enum class HandshakeState {
    negotiating,   // waiting for client flags or the next option
    transmission,  // an export was chosen; requests follow
    aborted,       // the client sent NBD_OPT_ABORT: send the ACK, then close
    failed,        // send what was appended (if anything), then close
};

class ServerHandshake {
  public:
    // `exports` must outlive the handshake. Throws NbdError(invalid_argument)
    // for a limit outside [min_option_length_limit, max_option_length_limit].
    explicit ServerHandshake(const ExportDirectory& exports, HandshakeLimits limits = {});

    // Appends the greeting: NBDMAGIC, IHAVEOPT and the handshake flags
    // (FIXED_NEWSTYLE | NO_ZEROES).
    void start(std::vector<std::byte>& out) const;

    // Consumes the whole messages at the front of `in`, appends the replies to
    // `out` and returns the number of bytes consumed (never more than
    // in.size()). Throws NbdError(invalid_export) if the directory hands out
    // an export that validate_export refuses; the connection then closes.
    std::size_t feed(std::span<const std::byte> in, std::vector<std::byte>& out);

    HandshakeState state() const noexcept { return state_; }
    // One line for the log when state() is failed; empty otherwise.
    const std::string& failure() const noexcept { return failure_; }
    // The largest message feed may wait for: a caller whose buffer holds this
    // much while negotiating always gets progress or a failure from feed.
    std::size_t max_message_size() const noexcept;

    // Valid in the transmission state (std::bad_optional_access otherwise).
    const ExportInfo& chosen_export() const { return chosen_.value(); }
    bool structured_replies() const noexcept { return structured_replies_; }
    // The client set NBD_FLAG_C_NO_ZEROES (it matters only to
    // NBD_OPT_EXPORT_NAME, whose reply it shortens).
    bool no_zeroes() const noexcept { return no_zeroes_; }

  private:
    std::size_t take_client_flags(std::span<const std::byte> in);
    std::size_t take_option(std::span<const std::byte> in, std::vector<std::byte>& out);
    void handle_option(std::uint32_t option, std::span<const std::byte> payload,
                       std::vector<std::byte>& out);
    void export_name(std::span<const std::byte> payload, std::vector<std::byte>& out);
    void info_or_go(std::uint32_t option, std::span<const std::byte> payload,
                    std::vector<std::byte>& out);
    void list(std::uint32_t option, std::span<const std::byte> payload,
              std::vector<std::byte>& out);
    void structured_reply(std::uint32_t option, std::span<const std::byte> payload,
                          std::vector<std::byte>& out);
    void fail(std::string reason);

    const ExportDirectory& exports_;
    HandshakeLimits limits_;
    HandshakeState state_ = HandshakeState::negotiating;
    bool have_client_flags_ = false;
    bool no_zeroes_ = false;
    bool structured_replies_ = false;
    std::optional<ExportInfo> chosen_;
    std::string failure_;
};

}  // namespace hostcrypt::nbd
