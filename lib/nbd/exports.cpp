#include "nbd/exports.hpp"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

#include "nbd/nbd_error.hpp"
#include "nbd/protocol.hpp"

namespace hostcrypt::nbd {

namespace {

constexpr std::uint32_t largest_minimum_block = 1u << 16;
constexpr std::uint32_t smallest_preferred_block = 512;
// The data chunk of a read carries an 8-byte offset inside a 32-bit length.
constexpr std::uint32_t largest_one_chunk_read = 0xffffffff - 8;

void check_string(const ExportInfo& info, std::string_view what, std::string_view value) {
    if (value.size() > max_string_length) {
        throw NbdError(NbdErrc::invalid_export,
                       fmt::format("NBD export {} of {} bytes is longer than the spec's {}", what,
                                   value.size(), max_string_length));
    }
    if (value.find('\0') != std::string_view::npos) {
        throw NbdError(NbdErrc::invalid_export,
                       fmt::format("NBD export '{}': its {} contains a NUL byte, which the "
                                   "spec forbids in strings",
                                   info.name.substr(0, info.name.find('\0')), what));
    }
}

void refuse(const ExportInfo& info, std::string_view problem) {
    throw NbdError(NbdErrc::invalid_export, fmt::format("NBD export '{}': {}", info.name, problem));
}

}  // namespace

void validate_export(const ExportInfo& info) {
    check_string(info, "name", info.name);
    check_string(info, "description", info.description);
    const std::uint32_t minimum = info.minimum_block;
    if (!std::has_single_bit(minimum) || minimum > largest_minimum_block) {
        refuse(info, fmt::format("minimum block size {} is not a power of two from 1 to {}",
                                 minimum, largest_minimum_block));
    }
    const std::uint32_t preferred = info.preferred_block;
    if (!std::has_single_bit(preferred) ||
        preferred < std::max(minimum, smallest_preferred_block)) {
        refuse(info, fmt::format("preferred block size {} is not a power of two of at least {}",
                                 preferred, std::max(minimum, smallest_preferred_block)));
    }
    const std::uint32_t maximum = info.maximum_block;
    if (maximum > largest_one_chunk_read) {
        refuse(info, fmt::format("maximum block size {} is above {}, the largest read one reply "
                                 "chunk can carry",
                                 maximum, largest_one_chunk_read));
    }
    if (maximum % minimum != 0 || maximum < std::min<std::uint64_t>(preferred, info.size)) {
        refuse(info, fmt::format("maximum block size {} is not a multiple of the minimum {} of "
                                 "at least min(preferred {}, size {})",
                                 maximum, minimum, preferred, info.size));
    }
    if (info.size % minimum != 0) {
        refuse(info, fmt::format("size {} is not a whole number of {}-byte minimum blocks",
                                 info.size, minimum));
    }
}

std::uint16_t transmission_flags(const ExportInfo& info, bool structured_replies) noexcept {
    std::uint16_t flags =
        flag_has_flags | flag_send_flush | flag_send_fua | flag_send_cache | flag_can_multi_conn;
    if (info.read_only) {
        flags |= flag_read_only;
    } else {
        flags |= flag_send_trim | flag_send_write_zeroes | flag_send_fast_zero;
    }
    if (structured_replies) {
        flags |= flag_send_df;
    }
    return flags;
}

}  // namespace hostcrypt::nbd
