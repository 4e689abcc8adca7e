#pragma once

// The test side of the wire: builds client messages and the replies it
// expects byte by byte, written from the spec independently of lib/nbd (no
// constants or encoders taken from it), so a wrong constant or layout in the
// library makes a test fail instead of agreeing with itself.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/exports.hpp"
#include "nbd/handshake.hpp"

namespace hostcrypt::nbd::test {

using Bytes = std::vector<std::byte>;

class Wire {
  public:
    Wire& u16(std::uint16_t value) { return put(value, 2); }
    Wire& u32(std::uint32_t value) { return put(value, 4); }
    Wire& u64(std::uint64_t value) { return put(value, 8); }
    Wire& text(std::string_view value) {
        for (const char c : value) {
            bytes_.push_back(static_cast<std::byte>(c));
        }
        return *this;
    }
    Wire& zeroes(std::size_t count) {
        bytes_.insert(bytes_.end(), count, std::byte{0});
        return *this;
    }
    Wire& bytes(const Bytes& more) {
        bytes_.insert(bytes_.end(), more.begin(), more.end());
        return *this;
    }
    const Bytes& done() const { return bytes_; }
    operator Bytes() const { return bytes_; }

  private:
    Wire& put(std::uint64_t value, std::size_t size) {
        for (std::size_t i = size; i-- > 0;) {
            bytes_.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xff));
        }
        return *this;
    }
    Bytes bytes_;
};

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes all;
    for (const Bytes& part : parts) {
        all.insert(all.end(), part.begin(), part.end());
    }
    return all;
}

// Option numbers, reply types and info types as the spec lists them.
namespace opt {
inline constexpr std::uint32_t export_name = 1, abort = 2, list = 3, starttls = 5, info = 6, go = 7,
                               structured_reply = 8, list_meta_context = 9, set_meta_context = 10,
                               extended_headers = 11;
}
namespace rep {
inline constexpr std::uint32_t ack = 1, server = 2, info = 3, err_unsup = 0x80000001,
                               err_invalid = 0x80000003, err_unknown = 0x80000006,
                               err_too_big = 0x80000009;
}
namespace info_type {
inline constexpr std::uint16_t export_ = 0, name = 1, description = 2, block_size = 3;
}

// Client flags: FIXED_NEWSTYLE (bit 0), NO_ZEROES (bit 1).
inline Bytes client_flags(std::uint32_t flags = 1) {
    return Wire().u32(flags);
}

inline Bytes option(std::uint32_t type, const Bytes& payload = {}) {
    return Wire()
        .u64(0x49484156454f5054)
        .u32(type)
        .u32(static_cast<std::uint32_t>(payload.size()))
        .bytes(payload);
}

inline Bytes info_payload(std::string_view name, std::initializer_list<std::uint16_t> infos = {}) {
    Wire wire;
    wire.u32(static_cast<std::uint32_t>(name.size())).text(name);
    wire.u16(static_cast<std::uint16_t>(infos.size()));
    for (const std::uint16_t type : infos) {
        wire.u16(type);
    }
    return wire;
}

inline Bytes option_reply(std::uint32_t option, std::uint32_t type, const Bytes& data = {}) {
    return Wire()
        .u64(0x0003e889045565a9)
        .u32(option)
        .u32(type)
        .u32(static_cast<std::uint32_t>(data.size()))
        .bytes(data);
}

inline Bytes error_reply(std::uint32_t option, std::uint32_t type, std::string_view message) {
    return option_reply(option, type, Wire().text(message));
}

inline Bytes info_export(std::uint32_t option, std::uint64_t size, std::uint16_t flags) {
    return option_reply(option, rep::info, Wire().u16(info_type::export_).u64(size).u16(flags));
}

inline Bytes info_text(std::uint32_t option, std::uint16_t type, std::string_view text) {
    return option_reply(option, rep::info, Wire().u16(type).text(text));
}

inline Bytes info_block_size(std::uint32_t option, std::uint32_t minimum, std::uint32_t preferred,
                             std::uint32_t maximum) {
    return option_reply(option, rep::info,
                        Wire().u16(info_type::block_size).u32(minimum).u32(preferred).u32(maximum));
}

// Transmission flags spelled out from the spec's bit numbers.
inline constexpr std::uint16_t flags_read_write =
    0x0001 | 0x0004 | 0x0008 | 0x0020 | 0x0040 | 0x0100 | 0x0400 | 0x0800;  // 0x0d6d
inline constexpr std::uint16_t flags_read_only =
    0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0100 | 0x0400;  // 0x050f
inline constexpr std::uint16_t flag_df = 0x0080;

inline ExportInfo sample_export(std::string name = "db", bool read_only = false) {
    return ExportInfo{.name = std::move(name),
                      .description = "database disk",
                      .size = 1ull << 30,
                      .minimum_block = 4096,
                      .preferred_block = 4096,
                      .maximum_block = 32u << 20,
                      .read_only = read_only};
}

class TestDirectory : public ExportDirectory {
  public:
    explicit TestDirectory(std::vector<ExportInfo> exports) : exports_(std::move(exports)) {}
    std::optional<ExportInfo> find(std::string_view name) const override {
        for (const ExportInfo& info : exports_) {
            if (info.name == name) {
                return info;
            }
        }
        return std::nullopt;
    }
    std::vector<ExportInfo> list() const override { return exports_; }

  private:
    std::vector<ExportInfo> exports_;
};

// What a connection sees after offering `input` in pieces of at most `chunk`
// bytes, keeping what the handshake leaves unconsumed as a real caller does.
struct Session {
    Bytes output;
    std::size_t consumed = 0;
};

inline Session run(ServerHandshake& handshake, const Bytes& input, std::size_t chunk) {
    Session session;
    Bytes pending;
    std::size_t offered = 0;
    while (offered < input.size()) {
        const std::size_t piece = std::min(chunk, input.size() - offered);
        pending.insert(pending.end(), input.begin() + static_cast<std::ptrdiff_t>(offered),
                       input.begin() + static_cast<std::ptrdiff_t>(offered + piece));
        offered += piece;
        const std::size_t taken = handshake.feed(pending, session.output);
        session.consumed += taken;
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(taken));
    }
    return session;
}

}  // namespace hostcrypt::nbd::test
