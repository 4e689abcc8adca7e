#pragma once

// The server's messages during option haggling, appended to a connection's
// output. Each reply is framed by the fixed newstyle option reply header
// (magic, option, reply type, length); the length is computed from what was
// appended, so it cannot disagree with the payload.

#include <cstdint>
#include <string_view>
#include <vector>

#include "nbd/exports.hpp"
#include "nbd/protocol.hpp"

namespace hostcrypt::nbd {

// A reply with no payload (NBD_REP_ACK) or an error reply whose payload is a
// message for people.
void append_option_reply(std::vector<std::byte>& out, std::uint32_t option, OptionReply type,
                         std::string_view message = {});

// NBD_REP_SERVER: the name, then the description as the spec's optional
// human-readable details.
void append_server_reply(std::vector<std::byte>& out, std::uint32_t option, const ExportInfo& info);

// NBD_REP_INFO replies.
void append_info_export(std::vector<std::byte>& out, std::uint32_t option, const ExportInfo& info,
                        std::uint16_t flags);
void append_info_string(std::vector<std::byte>& out, std::uint32_t option, Info type,
                        std::string_view value);
void append_info_block_size(std::vector<std::byte>& out, std::uint32_t option,
                            const ExportInfo& info);

// The reply that ends an NBD_OPT_EXPORT_NAME: no header, just the size, the
// flags and, unless the client asked for NO_ZEROES, 124 reserved zero bytes.
void append_export_name_reply(std::vector<std::byte>& out, const ExportInfo& info,
                              std::uint16_t flags, bool no_zeroes);

}  // namespace hostcrypt::nbd
