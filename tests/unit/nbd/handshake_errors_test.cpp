// Every way a client can fail or be refused during the handshake: the reply
// bytes, the state it leaves, and the failure line for the log.

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "nbd/handshake.hpp"
#include "nbd/nbd_error.hpp"
#include "nbd/nbd_wire.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::nbd;
using namespace hostcrypt::nbd::test;
using hostcrypt::test::thrown;

namespace {

constexpr std::uint64_t one_gib = 1ull << 30;

struct Fixture {
    TestDirectory directory{{sample_export("db")}};
    ServerHandshake handshake{directory};
    Bytes output;

    std::size_t feed(const Bytes& input) { return handshake.feed(input, output); }
};

// The GO that should still work after a refused option.
Bytes go_db() {
    return option(opt::go, info_payload("db"));
}
Bytes go_db_replies() {
    return cat({info_export(opt::go, one_gib, flags_read_write),
                info_block_size(opt::go, 4096, 4096, 32u << 20), option_reply(opt::go, rep::ack)});
}

}  // namespace

TEST_CASE("unsupported options get NBD_REP_ERR_UNSUP and negotiation goes on",
          "[handshake][errors]") {
    const std::uint32_t type =
        GENERATE(as<std::uint32_t>{}, opt::starttls, opt::list_meta_context, opt::set_meta_context,
                 opt::extended_headers, 4u, 0u, 12u, 0xffffffffu);
    const Bytes payload = GENERATE(Bytes{}, Bytes(Wire().u32(2).text("db").u32(0)));
    Fixture f;
    const Bytes input = cat({client_flags(1), option(type, payload), go_db()});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({error_reply(type, rep::err_unsup, "option not supported"), go_db_replies()}));
    CHECK(f.handshake.state() == HandshakeState::transmission);
}

TEST_CASE("NBD_OPT_GO and NBD_OPT_INFO of an unknown export get NBD_REP_ERR_UNKNOWN",
          "[handshake][errors]") {
    const std::uint32_t type = GENERATE(as<std::uint32_t>{}, opt::go, opt::info);
    Fixture f;
    const Bytes input =
        cat({client_flags(1), option(type, info_payload("nope", {1, 2, 3})), go_db()});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({error_reply(type, rep::err_unknown, "unknown export"), go_db_replies()}));
}

TEST_CASE("malformed NBD_OPT_GO and NBD_OPT_INFO payloads get NBD_REP_ERR_INVALID",
          "[handshake][errors]") {
    const std::uint32_t type = GENERATE(as<std::uint32_t>{}, opt::go, opt::info);
    const Bytes payload =
        GENERATE(Bytes{},                                        // nothing
                 Bytes(Wire().u32(2).text("db")),                // no count
                 Bytes(Wire().u32(2).text("db").u16(0).u16(0)),  // a byte pair too many
                 Bytes(Wire().u32(2).text("db").u16(1)),         // one request announced, none sent
                 Bytes(Wire().u32(2).text("db").u16(0).text("x")),  // a trailing byte
                 Bytes(Wire().u32(9).text("db").u16(0)),            // name runs past the end
                 Bytes(Wire().u32(0xffffffff).text("db").u16(0)));  // name length overflows
    Fixture f;
    const Bytes input = cat({client_flags(1), option(type, payload), go_db()});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({error_reply(type, rep::err_invalid, "malformed option data"), go_db_replies()}));
}

TEST_CASE("an export name longer than the spec's 4096 bytes gets NBD_REP_ERR_INVALID",
          "[handshake][errors]") {
    Fixture f;
    const Bytes input =
        cat({client_flags(1), option(opt::go, info_payload(std::string(4097, 'a'))), go_db()});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({error_reply(opt::go, rep::err_invalid, "export name longer than 4096 bytes"),
               go_db_replies()}));
}

TEST_CASE("NBD_OPT_LIST and NBD_OPT_STRUCTURED_REPLY with data get NBD_REP_ERR_INVALID",
          "[handshake][errors]") {
    const std::uint32_t type = GENERATE(as<std::uint32_t>{}, opt::list, opt::structured_reply);
    Fixture f;
    const Bytes input = cat({client_flags(1), option(type, Wire().u32(0)), go_db()});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({error_reply(type, rep::err_invalid, "option takes no data"), go_db_replies()}));
    CHECK_FALSE(f.handshake.structured_replies());
}

TEST_CASE("a second NBD_OPT_STRUCTURED_REPLY gets NBD_REP_ERR_INVALID and changes nothing",
          "[handshake][errors]") {
    Fixture f;
    const Bytes input =
        cat({client_flags(1), option(opt::structured_reply), option(opt::structured_reply)});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output == cat({option_reply(opt::structured_reply, rep::ack),
                           error_reply(opt::structured_reply, rep::err_invalid,
                                       "structured replies already negotiated")}));
    CHECK(f.handshake.structured_replies());
    CHECK(f.handshake.state() == HandshakeState::negotiating);
}

TEST_CASE("NBD_OPT_EXPORT_NAME of an unknown export fails without a reply", "[handshake][errors]") {
    Fixture f;
    const Bytes input = cat({client_flags(1), option(opt::export_name, Wire().text("no'pe\n"))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output.empty());
    CHECK(f.handshake.state() == HandshakeState::failed);
    // Client bytes are escaped so they cannot forge a log line.
    CHECK(f.handshake.failure() == "NBD_OPT_EXPORT_NAME for unknown export 'no\\x27pe\\x0a'");
}

TEST_CASE("a long unknown export name is cut in the failure line", "[handshake][errors]") {
    Fixture f;
    const Bytes input =
        cat({client_flags(1), option(opt::export_name, Wire().text(std::string(5000, 'x')))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.handshake.state() == HandshakeState::failed);
    CHECK(f.handshake.failure() ==
          "NBD_OPT_EXPORT_NAME for unknown export '" + std::string(64, 'x') + "...'");
}

TEST_CASE("a bad option magic fails the handshake", "[handshake][errors]") {
    Fixture f;
    const Bytes bad = Wire().u64(0x49484156454f5055).u32(opt::go).u32(0);
    CHECK(f.feed(cat({client_flags(1), bad})) == 4 + 16);
    CHECK(f.output.empty());
    CHECK(f.handshake.state() == HandshakeState::failed);
    CHECK(f.handshake.failure() == "bad option magic 0x49484156454f5055");
}

TEST_CASE("client flags with unknown bits fail the handshake", "[handshake][errors]") {
    Fixture f;
    CHECK(f.feed(cat({client_flags(0x00000005), go_db()})) == 4);
    CHECK(f.output.empty());
    CHECK(f.handshake.state() == HandshakeState::failed);
    CHECK(f.handshake.failure() == "client flags 0x00000005 have unknown bits 0x00000004");
}

TEST_CASE("client flags without FIXED_NEWSTYLE fail the handshake", "[handshake][errors]") {
    const std::uint32_t flags = GENERATE(0u, 2u);
    Fixture f;
    CHECK(f.feed(cat({client_flags(flags), go_db()})) == 4);
    CHECK(f.output.empty());
    CHECK(f.handshake.state() == HandshakeState::failed);
    CHECK(f.handshake.failure() ==
          (flags == 0 ? "client flags 0x00000000 lack NBD_FLAG_C_FIXED_NEWSTYLE"
                      : "client flags 0x00000002 lack NBD_FLAG_C_FIXED_NEWSTYLE"));
}

TEST_CASE("an oversized option gets NBD_REP_ERR_TOO_BIG from its header alone",
          "[handshake][errors]") {
    Fixture f;
    // Only the header: the payload it announces never has to arrive.
    const Bytes header = Wire().u64(0x49484156454f5054).u32(opt::go).u32(1u << 20);
    CHECK(f.feed(cat({client_flags(1), header})) == 4 + 16);
    CHECK(f.output == error_reply(opt::go, rep::err_too_big, "option data too long"));
    CHECK(f.handshake.state() == HandshakeState::failed);
    CHECK(f.handshake.failure() == "option 7 of 1048576 bytes exceeds the 65536-byte limit");
}

TEST_CASE("an option exactly at the limit is read and answered", "[handshake][errors]") {
    TestDirectory directory({sample_export("db")});
    ServerHandshake handshake(directory, {.max_option_length = 5000});
    Bytes output;
    const Bytes input = cat({client_flags(1), option(99, Bytes(5000)), option(99, Bytes(5001))});
    CHECK(handshake.feed(input, output) == 4 + 16 + 5000 + 16);
    CHECK(output == cat({error_reply(99, rep::err_unsup, "option not supported"),
                         error_reply(99, rep::err_too_big, "option data too long")}));
    CHECK(handshake.failure() == "option 99 of 5001 bytes exceeds the 5000-byte limit");
}

TEST_CASE("nothing more is consumed once the handshake has failed", "[handshake][errors]") {
    Fixture f;
    CHECK(f.feed(client_flags(8)) == 4);
    REQUIRE(f.handshake.state() == HandshakeState::failed);
    CHECK(f.feed(cat({client_flags(1), go_db()})) == 0);
    CHECK(f.output.empty());
}

TEST_CASE("option length limits outside the supported range are refused", "[handshake][errors]") {
    TestDirectory directory({});
    const std::uint32_t limit = GENERATE(0u, 4109u, (16u << 20) + 1);
    const auto error =
        thrown<NbdError>([&] { ServerHandshake(directory, {.max_option_length = limit}); });
    CHECK(error.code() == NbdErrc::invalid_argument);
    CHECK(std::string(error.what()) ==
          "NBD option length limit of " + std::to_string(limit) +
              " bytes is outside [4110, 16777216]: it must admit an NBD_OPT_GO with the longest "
              "name the spec allows and keep a connection's buffer small");
    CHECK_NOTHROW(ServerHandshake(directory, {.max_option_length = 4110}));
    CHECK_NOTHROW(ServerHandshake(directory, {.max_option_length = 16u << 20}));
}

TEST_CASE("an export the directory should never have offered is an NbdError",
          "[handshake][errors]") {
    ExportInfo broken = sample_export("db");
    broken.minimum_block = 1000;
    TestDirectory directory({broken});
    const Bytes option_bytes =
        GENERATE(option(opt::go, info_payload("db")), option(opt::info, info_payload("db")),
                 option(opt::export_name, Wire().text("db")), option(opt::list));
    ServerHandshake handshake(directory);
    Bytes output;
    const auto error = thrown<NbdError>([&] {
        handshake.feed(cat({client_flags(1), option_bytes}), output);
    });
    CHECK(error.code() == NbdErrc::invalid_export);
    CHECK(std::string(error.what()) ==
          "NBD export 'db': minimum block size 1000 is not a power of two from 1 to 65536");
}
