#include "nbd/option_reply.hpp"

#include <span>

#include "nbd/wire.hpp"

namespace hostcrypt::nbd {

namespace {

constexpr std::size_t length_field = 16;  // within the option reply header

// Appends the header with a zero length and returns where the reply starts;
// end_reply patches the length once the payload is in.
std::size_t begin_reply(std::vector<std::byte>& out, std::uint32_t option, OptionReply type) {
    const std::size_t start = out.size();
    wire::append_be(out, option_reply_magic);
    wire::append_be(out, option);
    wire::append_be(out, to_underlying(type));
    wire::append_be(out, std::uint32_t{0});
    return start;
}

void end_reply(std::vector<std::byte>& out, std::size_t start) {
    const std::size_t length = out.size() - start - option_reply_header_size;
    wire::store_be(std::span(out), start + length_field, static_cast<std::uint32_t>(length));
}

void append_text(std::vector<std::byte>& out, std::string_view text) {
    const auto* bytes = reinterpret_cast<const std::byte*>(text.data());
    out.insert(out.end(), bytes, bytes + text.size());
}

}  // namespace

void append_option_reply(std::vector<std::byte>& out, std::uint32_t option, OptionReply type,
                         std::string_view message) {
    const std::size_t start = begin_reply(out, option, type);
    append_text(out, message);
    end_reply(out, start);
}

void append_server_reply(std::vector<std::byte>& out, std::uint32_t option,
                         const ExportInfo& info) {
    const std::size_t start = begin_reply(out, option, OptionReply::server);
    wire::append_be(out, static_cast<std::uint32_t>(info.name.size()));
    append_text(out, info.name);
    append_text(out, info.description);
    end_reply(out, start);
}

void append_info_export(std::vector<std::byte>& out, std::uint32_t option, const ExportInfo& info,
                        std::uint16_t flags) {
    const std::size_t start = begin_reply(out, option, OptionReply::info);
    wire::append_be(out, to_underlying(Info::export_));
    wire::append_be(out, info.size);
    wire::append_be(out, flags);
    end_reply(out, start);
}

void append_info_string(std::vector<std::byte>& out, std::uint32_t option, Info type,
                        std::string_view value) {
    const std::size_t start = begin_reply(out, option, OptionReply::info);
    wire::append_be(out, to_underlying(type));
    append_text(out, value);
    end_reply(out, start);
}

void append_info_block_size(std::vector<std::byte>& out, std::uint32_t option,
                            const ExportInfo& info) {
    const std::size_t start = begin_reply(out, option, OptionReply::info);
    wire::append_be(out, to_underlying(Info::block_size));
    wire::append_be(out, info.minimum_block);
    wire::append_be(out, info.preferred_block);
    wire::append_be(out, info.maximum_block);
    end_reply(out, start);
}

void append_export_name_reply(std::vector<std::byte>& out, const ExportInfo& info,
                              std::uint16_t flags, bool no_zeroes) {
    wire::append_be(out, info.size);
    wire::append_be(out, flags);
    if (!no_zeroes) {
        out.insert(out.end(), export_name_zeroes, std::byte{0});
    }
}

}  // namespace hostcrypt::nbd
