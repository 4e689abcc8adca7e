// Every way a header slot can fail to decode or encode: each is a distinct
// DiskErrc and every message names the disk.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "crypto/digest.hpp"
#include "disk/disk_error.hpp"
#include "disk/disk_fixture.hpp"
#include "disk/disk_header.hpp"
#include "disk/format_vector.hpp"

using namespace hostcrypt;
using namespace hostcrypt::disk;
using namespace hostcrypt::disk::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

constexpr std::size_t prefix_size = 64;
constexpr std::size_t version_offset = 8;
constexpr std::size_t length_offset = 12;
constexpr std::size_t sequence_offset = 16;
constexpr std::size_t checksum_offset = 24;
constexpr const char* disk_name = "hdr-disk";

template <typename T>
void put_le(std::vector<std::byte>& slot, std::size_t offset, T value) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        slot[offset + i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
    }
}

std::uint32_t metadata_length(const std::vector<std::byte>& slot) {
    std::uint32_t length = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        length |= std::to_integer<std::uint32_t>(slot[length_offset + i]) << (8 * i);
    }
    return length;
}

// Sets the checksum field to SHA-256 of [0, 64 + L) computed with the field
// zeroed, as docs/format.md defines it: written here independently of the
// library, so a header can carry a valid checksum over invalid content.
void reseal(std::vector<std::byte>& slot) {
    std::fill_n(slot.begin() + checksum_offset, 32, std::byte{0});
    const std::size_t used = prefix_size + metadata_length(slot);
    const crypto::Sha256Digest digest = crypto::sha256({std::span(slot).first(used)});
    std::copy(digest.begin(), digest.end(), slot.begin() + checksum_offset);
}

// A whole slot around `metadata`, with a valid checksum.
std::vector<std::byte> slot_around(const std::string& metadata, std::uint64_t sequence = 7,
                                   std::uint16_t version = 1) {
    std::vector<std::byte> slot(header_slot_size);
    const std::string magic = "HOSTCRPT";
    std::transform(magic.begin(), magic.end(), slot.begin(),
                   [](char c) { return static_cast<std::byte>(c); });
    put_le<std::uint16_t>(slot, version_offset, version);
    put_le<std::uint32_t>(slot, length_offset, static_cast<std::uint32_t>(metadata.size()));
    put_le<std::uint64_t>(slot, sequence_offset, sequence);
    std::transform(metadata.begin(), metadata.end(), slot.begin() + prefix_size,
                   [](char c) { return static_cast<std::byte>(c); });
    reseal(slot);
    return slot;
}

std::vector<std::byte> vector_slot() {
    return encode_header_slot(format_vector_header(), disk_name);
}

json vector_metadata() {
    const std::vector<std::byte> slot = vector_slot();
    const auto* text = reinterpret_cast<const char*>(slot.data() + prefix_size);
    return json::parse(text, text + metadata_length(slot));
}

DiskError decode_error_of(std::span<const std::byte> slot) {
    return disk_error_of([&] { decode_header_slot(slot, disk_name); });
}

}  // namespace

TEST_CASE("the test's own slot builder reproduces the library's encoding", "[header]") {
    // Otherwise the corrupt-metadata tests below would test the builder.
    CHECK(slot_around(vector_metadata().dump()) == vector_slot());
}

TEST_CASE("an empty header slot is not a hostcrypt disk", "[header][errors]") {
    const std::vector<std::byte> zeros(header_slot_size);
    const DiskError error = decode_error_of(zeros);
    CHECK(error.code() == DiskErrc::not_hostcrypt);
    CHECK_THAT(error.what(), Contains(disk_name) && Contains("empty"));
}

TEST_CASE("foreign data in a header slot is not a hostcrypt disk", "[header][errors]") {
    std::vector<std::byte> slot = GENERATE(
        random_bytes(header_slot_size),
        // An ext4 or MBR image begins with boot code or zeros then a signature.
        [] {
            std::vector<std::byte> mbr(header_slot_size);
            mbr[0] = std::byte{0xeb};
            mbr[510] = std::byte{0x55};
            mbr[511] = std::byte{0xaa};
            return mbr;
        }(),
        // The magic with one letter changed (hostcrypt's own magic in lower case).
        [] {
            std::vector<std::byte> almost = encode_header_slot(format_vector_header(), "x");
            almost[0] = static_cast<std::byte>('h');
            return almost;
        }());
    const DiskError error = decode_error_of(slot);
    CHECK(error.code() == DiskErrc::not_hostcrypt);
    CHECK_THAT(error.what(), Contains(disk_name) && Contains("not a hostcrypt disk"));
}

TEST_CASE("a header slot shorter than its prefix is truncated", "[header][errors]") {
    const std::vector<std::byte> slot = vector_slot();
    const std::size_t length = GENERATE(8u, 16u, 63u);
    const DiskError error = decode_error_of(std::span(slot).first(length));
    CHECK(error.code() == DiskErrc::truncated);
    CHECK_THAT(error.what(), Contains(disk_name) && Contains("truncated"));
}

TEST_CASE("a header slot cut inside its metadata is truncated", "[header][errors]") {
    const std::vector<std::byte> slot = vector_slot();
    const std::size_t used = prefix_size + metadata_length(slot);
    for (const std::size_t length : {prefix_size, prefix_size + 1, used / 2, used - 1}) {
        INFO("slot of " << length << " bytes");
        const DiskError error = decode_error_of(std::span(slot).first(length));
        CHECK(error.code() == DiskErrc::truncated);
        CHECK_THAT(error.what(),
                   Contains(disk_name) && Contains(fmt::format("{} of {} bytes", length, used)));
    }
    // Exactly the used bytes are enough.
    CHECK(decode_header_slot(std::span(slot).first(used), disk_name).uuid ==
          format_vector_header().uuid);
}

TEST_CASE("a header of format version 2 is an unsupported version", "[header][errors]") {
    std::vector<std::byte> slot = vector_slot();
    const std::uint16_t version = GENERATE(as<std::uint16_t>{}, 0, 2, 256, 0xffff);
    put_le<std::uint16_t>(slot, version_offset, version);
    SECTION("with the checksum of version 1") {}
    SECTION("with its own valid checksum") {
        reseal(slot);
    }
    const DiskError error = decode_error_of(slot);
    CHECK(error.code() == DiskErrc::unsupported_version);
    CHECK_THAT(error.what(),
               Contains(disk_name) && Contains(fmt::format("format version {}", version)));
}

TEST_CASE("any single flipped bit in a header's used bytes is a bad checksum", "[header][errors]") {
    // Every bit of [0, 64 + L) except the magic and the version, whose
    // damage is reported as not-hostcrypt and unsupported-version on purpose.
    std::vector<std::byte> slot = vector_slot();
    const std::size_t used = prefix_size + metadata_length(slot);
    std::vector<std::string> wrong;
    std::string sample_message;
    for (std::size_t byte = version_offset + 2; byte < used; ++byte) {
        for (unsigned bit = 0; bit < 8; ++bit) {
            slot[byte] ^= std::byte{1} << bit;
            try {
                decode_header_slot(slot, disk_name);
                wrong.push_back(fmt::format("byte {} bit {}: decoded", byte, bit));
            } catch (const DiskError& error) {
                if (error.code() != DiskErrc::bad_checksum) {
                    wrong.push_back(
                        fmt::format("byte {} bit {}: {}", byte, bit, to_string(error.code())));
                }
                if (std::string(error.what()).find(disk_name) == std::string::npos) {
                    wrong.push_back(fmt::format("byte {} bit {}: message '{}' lacks the disk", byte,
                                                bit, error.what()));
                }
                sample_message = error.what();
            }
            slot[byte] ^= std::byte{1} << bit;
        }
    }
    std::string report;
    for (const std::string& line : wrong) {
        report += line + "\n";
    }
    INFO(report);
    CHECK(wrong.empty());
    CHECK_THAT(sample_message, Contains("checksum"));
    // And the slot, restored, decodes again: the flips above were the cause.
    CHECK(decode_header_slot(slot, disk_name).sequence == 7);
}

TEST_CASE("a valid checksum over invalid metadata is a corrupt header", "[header][errors]") {
    using Edit = std::function<std::string()>;
    const auto edited = [](std::function<void(json&)> change) -> Edit {
        return [change] {
            json metadata = vector_metadata();
            change(metadata);
            return metadata.dump();
        };
    };
    const std::vector<std::pair<std::string, Edit>> cases{
        {"not JSON", [] { return std::string("{\"format\":\"hostcrypt-disk\""); }},
        {"JSON then garbage", [] { return vector_metadata().dump() + "x"; }},
        {"an array", [] { return std::string("[1,2,3]"); }},
        {"another format", edited([](json& m) { m["format"] = "other-disk"; })},
        {"no uuid", edited([](json& m) { m.erase("uuid"); })},
        {"no layers", edited([](json& m) { m.erase("layers"); })},
        {"size as text", edited([](json& m) { m["size"] = "1073741824"; })},
        {"sector size 1024", edited([](json& m) { m["sector_size"] = 1024; })},
        {"size not a multiple", edited([](json& m) { m["size"] = (1u << 30) + 512u; })},
        {"size 0", edited([](json& m) { m["size"] = 0; })},
        {"data offset inside the slots", edited([](json& m) { m["data_offset"] = 16384; })},
        {"data offset not a multiple of 4096",
         edited([](json& m) { m["data_offset"] = 40960 + 512; })},
        {"empty uuid", edited([](json& m) { m["uuid"] = ""; })},
        {"unknown set type", edited([](json& m) { m["encryption_set"]["type"] = "triple"; })},
        {"double with one layer", edited([](json& m) { m["layers"].erase(1); })},
        {"customer with two layers",
         edited([](json& m) { m["encryption_set"]["type"] = "customer"; })},
        {"platform layer inside, vault layer outside",
         edited([](json& m) { std::swap(m["layers"][0], m["layers"][1]); })},
        {"platform layer wrapped by a vault key",
         edited([](json& m) { m["layers"][1]["kek"]["provider"] = "vault:local"; })},
        {"unknown cipher", edited([](json& m) { m["layers"][0]["cipher"] = "aes-128-cbc"; })},
        {"wrapped key not hex", edited([](json& m) { m["layers"][0]["wrapped_dek"] = "zz"; })},
        {"empty wrapped key", edited([](json& m) { m["layers"][0]["wrapped_dek"] = ""; })},
        {"key version 0", edited([](json& m) { m["layers"][0]["kek"]["version"] = 0; })},
        {"no key name", edited([](json& m) { m["layers"][0]["kek"]["name"] = ""; })},
        {"bad creation time", edited([](json& m) { m["created"] = "yesterday"; })},
        {"bad rotation time", edited([](json& m) { m["rotated"] = 12; })},
        {"a uuid that is not a UUID", edited([](json& m) { m["uuid"] = "not-a-uuid"; })},
        {"sector size 2^32 + 4096",
         edited([](json& m) { m["sector_size"] = (std::uint64_t{1} << 32) + 4096; })},
    };
    for (const auto& [description, metadata] : cases) {
        INFO(description);
        const DiskError error = decode_error_of(slot_around(metadata()));
        CHECK(error.code() == DiskErrc::corrupt);
        CHECK_THAT(error.what(), Contains(disk_name));
    }
}

TEST_CASE("a metadata length beyond the slot is a bad checksum, not a crash", "[header][errors]") {
    std::vector<std::byte> slot = vector_slot();
    const std::uint32_t length = GENERATE(0u, 16321u, 0xffffffffu);
    put_le<std::uint32_t>(slot, length_offset, length);
    const DiskError error = decode_error_of(slot);
    CHECK(error.code() == DiskErrc::bad_checksum);
    CHECK_THAT(error.what(), Contains(disk_name) && Contains(std::to_string(length)));
}

TEST_CASE("a header of each type and sector size decodes to what was encoded", "[header]") {
    DiskHeader header = format_vector_header();
    header.sector_size = GENERATE(512u, 4096u);
    const keys::EncryptionType type =
        GENERATE(keys::EncryptionType::platform, keys::EncryptionType::customer,
                 keys::EncryptionType::double_);
    header.set_type = type;
    if (type == keys::EncryptionType::platform) {
        header.layers.erase(header.layers.begin());
    } else if (type == keys::EncryptionType::customer) {
        header.layers.pop_back();
    }
    header.rotated = parse_utc("2027-01-02T03:04:05Z");
    header.sequence = 1ull << 40;
    const DiskHeader decoded = decode_header_slot(encode_header_slot(header, "d"), "d");
    CHECK(decoded.sector_size == header.sector_size);
    CHECK(decoded.set_type == type);
    CHECK(decoded.rotated == header.rotated);
    CHECK(decoded.sequence == header.sequence);
    REQUIRE(decoded.layers.size() == header.layers.size());
    for (std::size_t i = 0; i < header.layers.size(); ++i) {
        CHECK(decoded.layers[i].kek == header.layers[i].kek);
        CHECK(decoded.layers[i].wrapped_dek == header.layers[i].wrapped_dek);
    }
}

TEST_CASE("an invalid header is refused by the encoder", "[header][errors]") {
    using Change = std::function<void(DiskHeader&)>;
    const std::vector<std::pair<std::string, Change>> cases{
        {"sector size 1024", [](DiskHeader& h) { h.sector_size = 1024; }},
        {"size not a multiple of the sector size", [](DiskHeader& h) { h.size += 512; }},
        {"size 0", [](DiskHeader& h) { h.size = 0; }},
        {"double with one layer", [](DiskHeader& h) { h.layers.pop_back(); }},
        {"double with three layers", [](DiskHeader& h) { h.layers.push_back(h.layers[1]); }},
        {"platform layer wrapped by a vault key",
         [](DiskHeader& h) {
             h.layers[1].kek = {"vault:local", "app-key", 1};
         }},
        {"customer layer wrapped by the platform key",
         [](DiskHeader& h) {
             h.layers[0].kek = {"platform", "platform-kek", 1};
         }},
        {"platform type with a vault key",
         [](DiskHeader& h) {
             h.set_type = keys::EncryptionType::platform;
             h.layers.pop_back();
         }},
        {"data offset inside the header slots", [](DiskHeader& h) { h.data_offset = 16384; }},
        {"unknown cipher", [](DiskHeader& h) { h.layers[0].cipher = "aes-256-cbc"; }},
        {"key version 0", [](DiskHeader& h) { h.layers[0].kek.version = 0; }},
        {"no wrapped key", [](DiskHeader& h) { h.layers[1].wrapped_dek.clear(); }},
        {"no set name", [](DiskHeader& h) { h.set_name.clear(); }},
        {"metadata larger than the slot",
         [](DiskHeader& h) { h.layers[0].wrapped_dek.resize(8200); }},
    };
    for (const auto& [description, change] : cases) {
        INFO(description);
        DiskHeader header = format_vector_header();
        change(header);
        const DiskError error = disk_error_of([&] { encode_header_slot(header, "enc-disk"); });
        CHECK(error.code() == DiskErrc::invalid_argument);
        CHECK_THAT(error.what(), Contains("enc-disk"));
    }
}

TEST_CASE("a header whose data area would end past 2^64 bytes is refused", "[header][errors]") {
    // data_offset + size must be a real offset, or the size check and every
    // data offset wrap around, into the header slots.
    DiskHeader header = format_vector_header();
    header.size = std::numeric_limits<std::uint64_t>::max() - 4095;  // a multiple of 4096
    const DiskError encode_error = disk_error_of([&] { encode_header_slot(header, "huge"); });
    CHECK(encode_error.code() == DiskErrc::invalid_argument);
    CHECK_THAT(encode_error.what(), Contains("huge"));

    json metadata = vector_metadata();
    metadata["size"] = header.size;
    const DiskError decode_error = decode_error_of(slot_around(metadata.dump()));
    CHECK(decode_error.code() == DiskErrc::corrupt);
    CHECK_THAT(decode_error.what(), Contains(disk_name));
}

TEST_CASE("non-zero flags, reserved or trailing bytes make a corrupt header", "[header][errors]") {
    constexpr std::size_t flags_offset = 10;
    constexpr std::size_t reserved_offset = 56;
    const std::vector<std::byte> valid = vector_slot();
    const std::size_t trailing = prefix_size + metadata_length(valid);
    for (const std::size_t position : {flags_offset, flags_offset + 1, reserved_offset,
                                       reserved_offset + 7, trailing, header_slot_size - 1}) {
        INFO("byte " << position);
        std::vector<std::byte> slot = valid;
        slot[position] = std::byte{0x01};
        reseal(slot);
        const DiskError error = decode_error_of(slot);
        CHECK(error.code() == DiskErrc::corrupt);
        CHECK_THAT(error.what(), Contains("non-zero flags, reserved or trailing bytes"));
    }
}
