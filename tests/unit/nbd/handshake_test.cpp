// The handshake's happy paths, each reply checked byte for byte against
// messages built by hand from the spec.

#include "nbd/handshake.hpp"

#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "nbd/nbd_wire.hpp"

using namespace hostcrypt::nbd;
using namespace hostcrypt::nbd::test;

namespace {

constexpr std::uint64_t one_gib = 1ull << 30;
constexpr std::uint32_t max_block = 32u << 20;

struct Fixture {
    TestDirectory directory{{sample_export("db"), sample_export("logs", true)}};
    ServerHandshake handshake{directory};
    Bytes output;

    std::size_t feed(const Bytes& input) { return handshake.feed(input, output); }
};

}  // namespace

TEST_CASE("the greeting is NBDMAGIC then IHAVEOPT then FIXED_NEWSTYLE | NO_ZEROES", "[handshake]") {
    Fixture f;
    f.handshake.start(f.output);
    CHECK(f.output == Bytes(Wire().text("NBDMAGIC").text("IHAVEOPT").u16(0x0003)));
    CHECK(f.handshake.state() == HandshakeState::negotiating);
}

TEST_CASE("client flags alone are consumed and negotiation waits for an option", "[handshake]") {
    Fixture f;
    CHECK(f.feed(client_flags(1)) == 4);
    CHECK(f.output.empty());
    CHECK(f.handshake.state() == HandshakeState::negotiating);
    CHECK_FALSE(f.handshake.no_zeroes());
}

TEST_CASE("NBD_OPT_GO without information requests enters transmission", "[handshake]") {
    Fixture f;
    const Bytes input = cat({client_flags(1), option(opt::go, info_payload("db"))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({info_export(opt::go, one_gib, flags_read_write),
               info_block_size(opt::go, 4096, 4096, max_block), option_reply(opt::go, rep::ack)}));
    REQUIRE(f.handshake.state() == HandshakeState::transmission);
    CHECK(f.handshake.chosen_export().name == "db");
    CHECK(f.handshake.chosen_export().size == one_gib);
    CHECK_FALSE(f.handshake.structured_replies());
    CHECK(f.handshake.failure().empty());
}

TEST_CASE("NBD_OPT_GO answers name and description requests once and ignores unknown types",
          "[handshake]") {
    Fixture f;
    const Bytes input =
        cat({client_flags(1),
             option(opt::go,
                    info_payload("db", {info_type::block_size, info_type::description, 0x1234,
                                        info_type::name, info_type::name, info_type::export_}))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({info_export(opt::go, one_gib, flags_read_write),
               info_text(opt::go, info_type::name, "db"),
               info_text(opt::go, info_type::description, "database disk"),
               info_block_size(opt::go, 4096, 4096, max_block), option_reply(opt::go, rep::ack)}));
    CHECK(f.handshake.state() == HandshakeState::transmission);
}

TEST_CASE("NBD_OPT_INFO describes an export and negotiation goes on to NBD_OPT_GO", "[handshake]") {
    Fixture f;
    const Bytes info = cat({client_flags(1), option(opt::info, info_payload("logs", {1}))});
    CHECK(f.feed(info) == info.size());
    CHECK(f.output == cat({info_export(opt::info, one_gib, flags_read_only),
                           info_text(opt::info, info_type::name, "logs"),
                           info_block_size(opt::info, 4096, 4096, max_block),
                           option_reply(opt::info, rep::ack)}));
    CHECK(f.handshake.state() == HandshakeState::negotiating);

    f.output.clear();
    const Bytes go = option(opt::go, info_payload("logs"));
    CHECK(f.feed(go) == go.size());
    CHECK(f.output ==
          cat({info_export(opt::go, one_gib, flags_read_only),
               info_block_size(opt::go, 4096, 4096, max_block), option_reply(opt::go, rep::ack)}));
    REQUIRE(f.handshake.state() == HandshakeState::transmission);
    CHECK(f.handshake.chosen_export().read_only);
}

TEST_CASE("NBD_OPT_EXPORT_NAME replies size and flags and 124 zero bytes", "[handshake]") {
    Fixture f;
    const Bytes input = cat({client_flags(1), option(opt::export_name, Wire().text("db"))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output == Bytes(Wire().u64(one_gib).u16(flags_read_write).zeroes(124)));
    REQUIRE(f.handshake.state() == HandshakeState::transmission);
    CHECK(f.handshake.chosen_export().name == "db");
}

TEST_CASE("NBD_OPT_EXPORT_NAME leaves out the zeroes when the client set NO_ZEROES",
          "[handshake]") {
    Fixture f;
    const Bytes input = cat({client_flags(3), option(opt::export_name, Wire().text("logs"))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.handshake.no_zeroes());
    CHECK(f.output == Bytes(Wire().u64(one_gib).u16(flags_read_only)));
    CHECK(f.handshake.state() == HandshakeState::transmission);
}

TEST_CASE("NO_ZEROES does not change NBD_OPT_GO which never sends zeroes", "[handshake]") {
    Fixture f;
    const Bytes input = cat({client_flags(3), option(opt::go, info_payload("db"))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({info_export(opt::go, one_gib, flags_read_write),
               info_block_size(opt::go, 4096, 4096, max_block), option_reply(opt::go, rep::ack)}));
}

TEST_CASE("NBD_OPT_LIST sends one NBD_REP_SERVER per export then ACK", "[handshake]") {
    Fixture f;
    const Bytes input = cat({client_flags(1), option(opt::list)});
    CHECK(f.feed(input) == input.size());
    CHECK(
        f.output ==
        cat({option_reply(opt::list, rep::server, Wire().u32(2).text("db").text("database disk")),
             option_reply(opt::list, rep::server, Wire().u32(4).text("logs").text("database disk")),
             option_reply(opt::list, rep::ack)}));
    CHECK(f.handshake.state() == HandshakeState::negotiating);
}

TEST_CASE("NBD_OPT_LIST of an empty directory is a lone ACK", "[handshake]") {
    TestDirectory empty({});
    ServerHandshake handshake(empty);
    Bytes output;
    const Bytes input = cat({client_flags(1), option(opt::list)});
    CHECK(handshake.feed(input, output) == input.size());
    CHECK(output == option_reply(opt::list, rep::ack));
}

TEST_CASE("NBD_OPT_ABORT is acknowledged and ends the handshake", "[handshake]") {
    Fixture f;
    // The spec asks servers to ignore data sent with NBD_OPT_ABORT.
    const Bytes payload = GENERATE(Bytes{}, Bytes(Wire().text("bye")));
    const Bytes input = cat({client_flags(1), option(opt::abort, payload)});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output == option_reply(opt::abort, rep::ack));
    CHECK(f.handshake.state() == HandshakeState::aborted);
    CHECK(f.handshake.failure().empty());
}

TEST_CASE("NBD_OPT_STRUCTURED_REPLY is acknowledged and adds DF to the flags", "[handshake]") {
    Fixture f;
    const Bytes input =
        cat({client_flags(1), option(opt::structured_reply), option(opt::go, info_payload("db"))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output ==
          cat({option_reply(opt::structured_reply, rep::ack),
               info_export(opt::go, one_gib, flags_read_write | flag_df),
               info_block_size(opt::go, 4096, 4096, max_block), option_reply(opt::go, rep::ack)}));
    REQUIRE(f.handshake.state() == HandshakeState::transmission);
    CHECK(f.handshake.structured_replies());
}

TEST_CASE("structured replies also hold after NBD_OPT_EXPORT_NAME", "[handshake]") {
    Fixture f;
    const Bytes input = cat({client_flags(3), option(opt::structured_reply),
                             option(opt::export_name, Wire().text("db"))});
    CHECK(f.feed(input) == input.size());
    CHECK(f.output == cat({option_reply(opt::structured_reply, rep::ack),
                           Wire().u64(one_gib).u16(flags_read_write | flag_df)}));
    CHECK(f.handshake.structured_replies());
}

TEST_CASE("the empty name selects the directory's default export", "[handshake]") {
    TestDirectory directory({sample_export("")});
    ServerHandshake handshake(directory);
    Bytes output;
    const Bytes input = cat({client_flags(1), option(opt::go, info_payload(""))});
    CHECK(handshake.feed(input, output) == input.size());
    REQUIRE(handshake.state() == HandshakeState::transmission);
    CHECK(handshake.chosen_export().name.empty());
}

TEST_CASE("bytes after the message that ends the handshake are not consumed", "[handshake]") {
    const Bytes request = Wire().u32(0x25609513).u16(0).u16(0).u64(7).u64(0).u32(4096);
    const Bytes first = GENERATE(option(opt::go, info_payload("db")),
                                 option(opt::export_name, Wire().text("db")), option(opt::abort));
    const std::size_t chunk = GENERATE(1u, 5u, 1000u);
    Fixture f;
    const Bytes handshake_bytes = cat({client_flags(1), first});
    const Session session = run(f.handshake, cat({handshake_bytes, request}), chunk);
    CHECK(session.consumed == handshake_bytes.size());
    CHECK(f.handshake.state() != HandshakeState::negotiating);
    CHECK(f.handshake.state() != HandshakeState::failed);
}

TEST_CASE("a whole negotiation gives the same replies fed byte by byte or all at once",
          "[handshake]") {
    const Bytes input =
        cat({client_flags(3), option(opt::structured_reply), option(opt::list),
             option(99, Wire().text("ignored")), option(opt::info, info_payload("nope")),
             option(opt::info, info_payload("logs", {2})), option(opt::go, info_payload("db"))});
    Fixture whole;
    CHECK(whole.feed(input) == input.size());

    const std::size_t chunk = GENERATE(1u, 2u, 3u, 7u, 16u, 17u);
    Fixture pieces;
    const Session session = run(pieces.handshake, input, chunk);
    CHECK(session.consumed == input.size());
    CHECK(session.output == whole.output);
    CHECK(pieces.handshake.state() == HandshakeState::transmission);
    CHECK(pieces.handshake.structured_replies());
    CHECK(pieces.handshake.chosen_export().name == "db");
}

TEST_CASE("a partial option is left unconsumed until its last byte arrives", "[handshake]") {
    Fixture f;
    CHECK(f.feed(client_flags(1)) == 4);
    const Bytes go = option(opt::go, info_payload("db"));
    for (std::size_t size = 0; size < go.size(); ++size) {
        CHECK(f.handshake.feed(std::span(go).first(size), f.output) == 0);
    }
    CHECK(f.output.empty());
    CHECK(f.feed(go) == go.size());
    CHECK(f.handshake.state() == HandshakeState::transmission);
}

TEST_CASE("the largest message a caller must buffer is the header plus the limit", "[handshake]") {
    TestDirectory directory({});
    CHECK(ServerHandshake(directory).max_message_size() == 16 + 65536);
    CHECK(ServerHandshake(directory, {.max_option_length = 5000}).max_message_size() == 5016);
}
