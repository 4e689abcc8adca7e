#include "nbd/handshake.hpp"

#include <fmt/format.h>

#include "nbd/nbd_error.hpp"
#include "nbd/option_reply.hpp"
#include "nbd/protocol.hpp"
#include "nbd/wire.hpp"

namespace hostcrypt::nbd {

namespace {

constexpr std::uint32_t known_client_flags = flag_c_fixed_newstyle | flag_c_no_zeroes;
constexpr std::size_t printed_name_max = 64;

// Human-readable texts that error replies carry for the client's user.
constexpr std::string_view text_unsupported = "option not supported";
constexpr std::string_view text_no_data = "option takes no data";
constexpr std::string_view text_repeated = "structured replies already negotiated";
constexpr std::string_view text_malformed = "malformed option data";
constexpr std::string_view text_long_name = "export name longer than 4096 bytes";
constexpr std::string_view text_unknown = "unknown export";
constexpr std::string_view text_too_big = "option data too long";

// What an NBD_OPT_INFO or NBD_OPT_GO asks for; unknown information types are
// ignored, as the spec requires, and repeats collapse into one reply.
struct InfoRequest {
    std::string_view name;
    bool name_info = false;
    bool description = false;
};

std::string_view as_text(std::span<const std::byte> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// The layout is: name length (32 bits), name, count (16 bits), count info
// types (16 bits each), and nothing after them.
std::optional<InfoRequest> parse_info_request(std::span<const std::byte> payload) {
    constexpr std::size_t fixed = 4 + 2;
    if (payload.size() < fixed) {
        return std::nullopt;
    }
    const std::uint32_t name_length = wire::load_be<std::uint32_t>(payload, 0);
    if (name_length > payload.size() - fixed) {
        return std::nullopt;
    }
    const std::uint16_t count = wire::load_be<std::uint16_t>(payload, 4 + name_length);
    if (payload.size() != fixed + name_length + 2 * std::size_t{count}) {
        return std::nullopt;
    }
    InfoRequest request{.name = as_text(payload.subspan(4, name_length))};
    for (std::size_t i = 0; i < count; ++i) {
        const auto type = wire::load_be<std::uint16_t>(payload, fixed + name_length + 2 * i);
        if (type == to_underlying(Info::name)) {
            request.name_info = true;
        } else if (type == to_underlying(Info::description)) {
            request.description = true;
        }
    }
    return request;
}

// Client-chosen bytes go into a log line: escape what is not printable ASCII
// and cut long names, so a client cannot forge or flood log lines.
std::string printable(std::string_view text) {
    std::string result;
    for (const char c : text.substr(0, printed_name_max)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && c != '\\' && c != '\'') {
            result += c;
        } else {
            result += fmt::format("\\x{:02x}", byte);
        }
    }
    if (text.size() > printed_name_max) {
        result += "...";
    }
    return result;
}

}  // namespace

ServerHandshake::ServerHandshake(const ExportDirectory& exports, HandshakeLimits limits)
    : exports_(exports), limits_(limits) {
    if (limits.max_option_length < min_option_length_limit ||
        limits.max_option_length > max_option_length_limit) {
        throw NbdError(NbdErrc::invalid_argument,
                       fmt::format("NBD option length limit of {} bytes is outside [{}, {}]: it "
                                   "must admit an NBD_OPT_GO with the longest name the spec "
                                   "allows and keep a connection's buffer small",
                                   limits.max_option_length, min_option_length_limit,
                                   max_option_length_limit));
    }
}

void ServerHandshake::start(std::vector<std::byte>& out) const {
    wire::append_be(out, nbdmagic);
    wire::append_be(out, ihaveopt);
    wire::append_be(out, static_cast<std::uint16_t>(flag_fixed_newstyle | flag_no_zeroes));
}

std::size_t ServerHandshake::max_message_size() const noexcept {
    return option_header_size + limits_.max_option_length;
}

std::size_t ServerHandshake::feed(std::span<const std::byte> in, std::vector<std::byte>& out) {
    std::size_t consumed = 0;
    while (state_ == HandshakeState::negotiating) {
        const std::span<const std::byte> rest = in.subspan(consumed);
        const std::size_t taken =
            have_client_flags_ ? take_option(rest, out) : take_client_flags(rest);
        if (taken == 0) {
            break;
        }
        consumed += taken;
    }
    return consumed;
}

std::size_t ServerHandshake::take_client_flags(std::span<const std::byte> in) {
    if (in.size() < client_flags_size) {
        return 0;
    }
    const std::uint32_t flags = wire::load_be<std::uint32_t>(in, 0);
    have_client_flags_ = true;
    // The spec makes the server drop a client that sets flags it did not
    // offer; fixed newstyle is required because every option but
    // NBD_OPT_EXPORT_NAME depends on it.
    if ((flags & ~known_client_flags) != 0) {
        fail(fmt::format("client flags 0x{:08x} have unknown bits 0x{:08x}", flags,
                         flags & ~known_client_flags));
    } else if ((flags & flag_c_fixed_newstyle) == 0) {
        fail(fmt::format("client flags 0x{:08x} lack NBD_FLAG_C_FIXED_NEWSTYLE", flags));
    }
    no_zeroes_ = (flags & flag_c_no_zeroes) != 0;
    return client_flags_size;
}

std::size_t ServerHandshake::take_option(std::span<const std::byte> in,
                                         std::vector<std::byte>& out) {
    if (in.size() < option_header_size) {
        return 0;
    }
    const std::uint64_t magic = wire::load_be<std::uint64_t>(in, 0);
    const std::uint32_t option = wire::load_be<std::uint32_t>(in, 8);
    const std::uint32_t length = wire::load_be<std::uint32_t>(in, 12);
    if (magic != ihaveopt) {
        fail(fmt::format("bad option magic 0x{:016x}", magic));
        return option_header_size;
    }
    if (length > limits_.max_option_length) {
        append_option_reply(out, option, OptionReply::err_too_big, text_too_big);
        fail(fmt::format("option {} of {} bytes exceeds the {}-byte limit", option, length,
                         limits_.max_option_length));
        return option_header_size;
    }
    if (in.size() - option_header_size < length) {
        return 0;
    }
    handle_option(option, in.subspan(option_header_size, length), out);
    return option_header_size + length;
}

void ServerHandshake::handle_option(std::uint32_t option, std::span<const std::byte> payload,
                                    std::vector<std::byte>& out) {
    switch (static_cast<Option>(option)) {
        case Option::export_name:
            export_name(payload, out);
            return;
        case Option::abort:
            append_option_reply(out, option, OptionReply::ack);
            state_ = HandshakeState::aborted;
            return;
        case Option::list:
            list(option, payload, out);
            return;
        case Option::info:
        case Option::go:
            info_or_go(option, payload, out);
            return;
        case Option::structured_reply:
            structured_reply(option, payload, out);
            return;
        default:
            append_option_reply(out, option, OptionReply::err_unsup, text_unsupported);
            return;
    }
}

void ServerHandshake::export_name(std::span<const std::byte> payload, std::vector<std::byte>& out) {
    // This option has no error reply: the spec's only answer to an export it
    // cannot serve is to end the session.
    const std::string_view name = as_text(payload);
    std::optional<ExportInfo> info;
    if (name.size() <= max_string_length) {
        info = exports_.find(name);
    }
    if (!info) {
        fail(fmt::format("NBD_OPT_EXPORT_NAME for unknown export '{}'", printable(name)));
        return;
    }
    validate_export(*info);
    append_export_name_reply(out, *info, transmission_flags(*info, structured_replies_),
                             no_zeroes_);
    chosen_ = std::move(info);
    state_ = HandshakeState::transmission;
}

void ServerHandshake::info_or_go(std::uint32_t option, std::span<const std::byte> payload,
                                 std::vector<std::byte>& out) {
    const std::optional<InfoRequest> request = parse_info_request(payload);
    if (!request) {
        append_option_reply(out, option, OptionReply::err_invalid, text_malformed);
        return;
    }
    if (request->name.size() > max_string_length) {
        append_option_reply(out, option, OptionReply::err_invalid, text_long_name);
        return;
    }
    std::optional<ExportInfo> info = exports_.find(request->name);
    if (!info) {
        append_option_reply(out, option, OptionReply::err_unknown, text_unknown);
        return;
    }
    validate_export(*info);
    append_info_export(out, option, *info, transmission_flags(*info, structured_replies_));
    if (request->name_info) {
        append_info_string(out, option, Info::name, info->name);
    }
    if (request->description) {
        append_info_string(out, option, Info::description, info->description);
    }
    append_info_block_size(out, option, *info);
    append_option_reply(out, option, OptionReply::ack);
    if (static_cast<Option>(option) == Option::go) {
        chosen_ = std::move(info);
        state_ = HandshakeState::transmission;
    }
}

void ServerHandshake::list(std::uint32_t option, std::span<const std::byte> payload,
                           std::vector<std::byte>& out) {
    if (!payload.empty()) {
        append_option_reply(out, option, OptionReply::err_invalid, text_no_data);
        return;
    }
    for (const ExportInfo& info : exports_.list()) {
        validate_export(info);
        append_server_reply(out, option, info);
    }
    append_option_reply(out, option, OptionReply::ack);
}

void ServerHandshake::structured_reply(std::uint32_t option, std::span<const std::byte> payload,
                                       std::vector<std::byte>& out) {
    if (!payload.empty()) {
        append_option_reply(out, option, OptionReply::err_invalid, text_no_data);
    } else if (structured_replies_) {
        append_option_reply(out, option, OptionReply::err_invalid, text_repeated);
    } else {
        structured_replies_ = true;
        append_option_reply(out, option, OptionReply::ack);
    }
}

void ServerHandshake::fail(std::string reason) {
    state_ = HandshakeState::failed;
    failure_ = std::move(reason);
}

}  // namespace hostcrypt::nbd
