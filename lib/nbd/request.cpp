#include "nbd/request.hpp"

#include "nbd/protocol.hpp"
#include "nbd/wire.hpp"

namespace hostcrypt::nbd {

namespace {

RequestCheck refuse(NbdErrno error, std::string_view reason) noexcept {
    return {.error = error, .close_connection = false, .reason = reason};
}

std::uint16_t allowed_flags(Command command, bool structured_replies) noexcept {
    switch (command) {
        case Command::write_zeroes:
            return cmd_flag_fua | cmd_flag_no_hole | cmd_flag_fast_zero;
        case Command::read:
            return structured_replies ? cmd_flag_fua | cmd_flag_df : cmd_flag_fua;
        default:
            return cmd_flag_fua;
    }
}

bool writes(Command command) noexcept {
    return command == Command::write || command == Command::trim ||
           command == Command::write_zeroes;
}

bool has_maximum(Command command) noexcept {
    switch (command) {
        case Command::read:
        case Command::write:
        case Command::cache:
            return true;
        default:
            return false;
    }
}

}  // namespace

std::optional<Request> decode_request(
    std::span<const std::byte, request_header_size> header) noexcept {
    if (wire::load_be<std::uint32_t>(header, 0) != request_magic) {
        return std::nullopt;
    }
    return Request{
        .flags = wire::load_be<std::uint16_t>(header, 4),
        .type = wire::load_be<std::uint16_t>(header, 6),
        .cookie = wire::load_be<std::uint64_t>(header, 8),
        .offset = wire::load_be<std::uint64_t>(header, 16),
        .length = wire::load_be<std::uint32_t>(header, 24),
    };
}

RequestCheck check_request(const Request& request, const ExportInfo& info,
                           bool structured_replies) noexcept {
    const auto command = static_cast<Command>(request.type);
    if (command == Command::write && request.length > info.maximum_block &&
        request.length > max_payload_size) {
        return {.error = NbdErrno::einval,
                .close_connection = true,
                .reason = "write payload too large to accept"};
    }
    switch (command) {
        case Command::read:
        case Command::write:
        case Command::flush:
        case Command::trim:
        case Command::cache:
        case Command::write_zeroes:
            break;
        case Command::disc:
            return {};
        case Command::block_status:
            return refuse(NbdErrno::einval, "no metadata context was negotiated");
        default:
            return refuse(NbdErrno::einval, "unknown command");
    }
    if ((request.flags & ~allowed_flags(command, structured_replies)) != 0) {
        return refuse(NbdErrno::einval, "flag not valid for this command");
    }
    if (command == Command::flush) {
        if (request.offset != 0 || request.length != 0) {
            return refuse(NbdErrno::einval, "flush with nonzero offset or length");
        }
        return {};
    }
    if (info.read_only && writes(command)) {
        return refuse(NbdErrno::eperm, "export is read-only");
    }
    if (request.length > info.size || request.offset > info.size - request.length) {
        const bool grows = command == Command::write || command == Command::write_zeroes;
        return refuse(grows ? NbdErrno::enospc : NbdErrno::einval,
                      "request beyond the end of the export");
    }
    if (has_maximum(command) && request.length > info.maximum_block) {
        return refuse(NbdErrno::einval, "length above the maximum block size");
    }
    // Unaligned requests are served: the spec lets a server accept what the
    // minimum block size advises against, and hostcrypt's data path does
    // read-modify-write of partial sectors.
    return {};
}

}  // namespace hostcrypt::nbd
