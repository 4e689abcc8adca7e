// Randomized hostile input, from a fixed seed so a failure reproduces: the
// handshake and the request decoder must never crash, never consume more
// than they were given, never make a caller buffer more than one message,
// and give the same answers however the bytes are split.

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "nbd/handshake.hpp"
#include "nbd/nbd_wire.hpp"
#include "nbd/request.hpp"

using namespace hostcrypt::nbd;
using namespace hostcrypt::nbd::test;

namespace {

constexpr int stream_count = 5000;

class Random {
  public:
    explicit Random(std::uint64_t seed) : engine_(seed) {}
    std::uint64_t below(std::uint64_t bound) {
        return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(engine_);
    }
    bool chance(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }
    std::uint64_t u64() { return engine_(); }
    Bytes bytes(std::size_t count) {
        Bytes result(count);
        for (std::byte& b : result) {
            b = static_cast<std::byte>(below(256));
        }
        return result;
    }

  private:
    std::mt19937_64 engine_;
};

// Mostly well-framed options with random types, lengths and payloads, so the
// stream gets past the first checks; now and then plain noise or a flipped
// byte.
Bytes handshake_stream(Random& random) {
    Wire wire;
    if (random.chance(80)) {
        wire.u32(static_cast<std::uint32_t>(random.below(4)));
    } else {
        wire.bytes(random.bytes(4));
    }
    const std::size_t messages = random.below(8);
    for (std::size_t m = 0; m < messages; ++m) {
        const auto kind = random.below(10);
        if (kind < 4) {
            const std::string names[] = {"db", "logs", "", "nope", std::string(300, 'n')};
            const std::string& name = names[random.below(5)];
            Wire payload;
            payload.u32(static_cast<std::uint32_t>(name.size())).text(name);
            const auto count = random.below(6);
            payload.u16(static_cast<std::uint16_t>(count));
            for (std::size_t i = 0; i < count; ++i) {
                payload.u16(static_cast<std::uint16_t>(random.below(6)));
            }
            wire.bytes(option(static_cast<std::uint32_t>(6 + random.below(2)), payload));
        } else if (kind < 8) {
            const auto type =
                static_cast<std::uint32_t>(random.chance(90) ? random.below(13) : random.u64());
            const std::size_t length = random.chance(95) ? random.below(40) : random.below(70000);
            wire.bytes(option(type, random.bytes(length)));
        } else if (kind < 9) {
            // A header announcing more than it delivers, or more than any limit.
            wire.u64(0x49484156454f5054)
                .u32(static_cast<std::uint32_t>(random.below(13)))
                .u32(static_cast<std::uint32_t>(random.u64()));
            wire.bytes(random.bytes(random.below(64)));
        } else {
            wire.bytes(random.bytes(random.below(64)));
        }
    }
    Bytes stream = wire;
    if (!stream.empty() && random.chance(20)) {
        stream[random.below(stream.size())] ^= std::byte{0x40};
    }
    return stream;
}

struct Outcome {
    Bytes output;
    std::size_t consumed = 0;
    HandshakeState state = HandshakeState::negotiating;
};

Outcome feed_in_pieces(const ExportDirectory& directory, const Bytes& input, Random& random,
                       bool whole) {
    ServerHandshake handshake(directory);
    Outcome outcome;
    Bytes pending;
    std::size_t offered = 0;
    while (offered < input.size()) {
        const std::size_t piece =
            whole ? input.size()
                  : std::min<std::size_t>(1 + random.below(100), input.size() - offered);
        pending.insert(pending.end(), input.begin() + static_cast<std::ptrdiff_t>(offered),
                       input.begin() + static_cast<std::ptrdiff_t>(offered + piece));
        offered += piece;
        const std::size_t taken = handshake.feed(pending, outcome.output);
        REQUIRE(taken <= pending.size());
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(taken));
        outcome.consumed += taken;
        if (handshake.state() == HandshakeState::negotiating) {
            // Whatever is left is part of one message, so the caller's
            // buffer stays below one message's bound.
            REQUIRE(pending.size() < handshake.max_message_size());
        } else {
            REQUIRE(handshake.feed(pending, outcome.output) == 0);
        }
    }
    outcome.state = handshake.state();
    if (outcome.state == HandshakeState::transmission) {
        const std::string& name = handshake.chosen_export().name;
        CHECK((name == "db" || name == "logs"));
    }
    CHECK((outcome.state == HandshakeState::failed) == !handshake.failure().empty());
    return outcome;
}

}  // namespace

TEST_CASE("random handshake streams never overrun and split the same as whole",
          "[handshake][errors]") {
    const TestDirectory directory({sample_export("db"), sample_export("logs", true)});
    Random random(0x6e6264);  // "nbd"
    int ended = 0;
    for (int i = 0; i < stream_count; ++i) {
        const Bytes input = handshake_stream(random);
        const Outcome whole = feed_in_pieces(directory, input, random, true);
        const Outcome split = feed_in_pieces(directory, input, random, false);
        REQUIRE(whole.consumed <= input.size());
        REQUIRE(split.consumed == whole.consumed);
        REQUIRE(split.state == whole.state);
        REQUIRE(split.output == whole.output);
        // Replies are bounded by what was consumed: at most a few small
        // replies per option, whatever the option.
        REQUIRE(whole.output.size() <= 8 * whole.consumed + 64);
        ended += whole.state != HandshakeState::negotiating ? 1 : 0;
    }
    // The generator must reach every outcome, or the test proves little.
    CHECK(ended > stream_count / 10);
    CHECK(ended < stream_count);
}

TEST_CASE("random request streams decode and check without overrunning", "[request][errors]") {
    const ExportInfo info = sample_export("db");
    Random random(0x726571);  // "req"
    std::size_t closed = 0;
    std::size_t accepted = 0;
    for (int i = 0; i < stream_count; ++i) {
        // Requests with random fields, a valid magic mostly, writes followed
        // by up to 8 KiB of their payload; the stream may end anywhere.
        Wire wire;
        for (std::size_t r = random.below(6); r > 0; --r) {
            const auto type =
                static_cast<std::uint16_t>(random.chance(90) ? random.below(9) : random.u64());
            const std::uint64_t offset =
                random.chance(50) ? random.below(info.size + 8192) & ~511ull : random.u64();
            const auto length = static_cast<std::uint32_t>(
                random.chance(70) ? random.below(8192) & ~511ull : random.u64());
            wire.u32(random.chance(95) ? 0x25609513 : static_cast<std::uint32_t>(random.u64()))
                .u16(
                    static_cast<std::uint16_t>(random.chance(70) ? random.below(32) : random.u64()))
                .u16(type)
                .u64(random.u64())
                .u64(offset)
                .u32(length);
            if (type == 1) {
                wire.bytes(random.bytes(std::min<std::size_t>(length, 8192)));
            }
        }
        const Bytes stream = wire;
        const bool structured = random.chance(50);

        // A minimal caller: header, check, skip a write's payload, repeat.
        Bytes pending;
        std::size_t offered = 0;
        std::size_t payload_left = 0;
        bool stop = false;
        while (offered < stream.size() && !stop) {
            const std::size_t piece =
                std::min<std::size_t>(1 + random.below(64), stream.size() - offered);
            pending.insert(pending.end(), stream.begin() + static_cast<std::ptrdiff_t>(offered),
                           stream.begin() + static_cast<std::ptrdiff_t>(offered + piece));
            offered += piece;
            while (!stop) {
                if (payload_left > 0) {
                    const std::size_t skip = std::min(payload_left, pending.size());
                    pending.erase(pending.begin(),
                                  pending.begin() + static_cast<std::ptrdiff_t>(skip));
                    payload_left -= skip;
                    if (payload_left > 0) {
                        break;
                    }
                }
                if (pending.size() < request_header_size) {
                    break;
                }
                const std::optional<Request> request =
                    decode_request(std::span(pending).first<request_header_size>());
                pending.erase(pending.begin(), pending.begin() + request_header_size);
                if (!request) {
                    stop = true;
                    break;
                }
                const RequestCheck result = check_request(*request, info, structured);
                REQUIRE((result.error == NbdErrno::none) == result.reason.empty());
                if (result.close_connection) {
                    REQUIRE(has_payload(*request));
                    REQUIRE(request->length > (1u << 25));
                    ++closed;
                    stop = true;
                    break;
                }
                if (result.error == NbdErrno::none && request->type != 2 && request->type != 3) {
                    // Anything accepted lies inside the export.
                    REQUIRE(request->offset <= info.size);
                    REQUIRE(request->length <= info.size - request->offset);
                    ++accepted;
                }
                payload_left = has_payload(*request) ? request->length : 0;
            }
            REQUIRE(pending.size() < request_header_size + 64);
        }
    }
    CHECK(accepted > 100);
    CHECK(closed > 10);
}
