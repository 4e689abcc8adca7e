#include "disk/disk_header.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "common/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/random.hpp"
#include "disk/disk_error.hpp"

namespace hostcrypt::disk {

using nlohmann::json;

namespace {

// The binary prefix; all integers little-endian.
constexpr std::array<char, 8> magic{'H', 'O', 'S', 'T', 'C', 'R', 'P', 'T'};
constexpr std::size_t version_offset = 8;    // u16
constexpr std::size_t flags_offset = 10;     // u16, zero
constexpr std::size_t length_offset = 12;    // u32: metadata bytes
constexpr std::size_t sequence_offset = 16;  // u64
constexpr std::size_t checksum_offset = 24;  // SHA-256, computed with this field zeroed
constexpr std::size_t prefix_size = 64;
constexpr std::size_t max_metadata = header_slot_size - prefix_size;

template <typename T>
void store_le(std::vector<std::byte>& out, std::size_t offset, T value) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        out[offset + i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
    }
}

template <typename T>
T load_le(std::span<const std::byte> in, std::size_t offset) {
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        value |= static_cast<T>(static_cast<T>(in[offset + i]) << (8 * i));
    }
    return value;
}

crypto::Sha256Digest slot_checksum(std::span<const std::byte> used) {
    const std::array<std::byte, 32> zeros{};
    return crypto::sha256(
        {used.first(checksum_offset), zeros, used.subspan(checksum_offset + zeros.size())});
}

bool is_uuid(const std::string& text) {
    if (text.size() != 36) {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        const bool hex = (text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f');
        if (dash_position ? text[i] != '-' : !hex) {
            return false;
        }
    }
    return true;
}

// Why a cache header's own fields are invalid, or empty if they are not.
std::string cache_problem(const DiskHeader& header) {
    const CacheMetadata& cache = *header.cache;
    if (!is_uuid(cache.disk_uuid)) {
        return fmt::format("cached disk UUID '{}' is malformed", cache.disk_uuid);
    }
    const std::uint64_t index_bytes = header.sector_count() * cache_index_entry_size;
    if (cache.index_offset < 2 * header_slot_size || cache.index_offset > header.data_offset ||
        header.data_offset - cache.index_offset < index_bytes) {
        return fmt::format(
            "index at {} does not fit between the header slots and the data area "
            "at {} ({} bytes needed)",
            cache.index_offset, header.data_offset, index_bytes);
    }
    if (cache.dirty_sectors > header.sector_count()) {
        return fmt::format("{} dirty sectors in a cache of {}", cache.dirty_sectors,
                           header.sector_count());
    }
    if (!cache.index_sha256.empty() && cache.index_sha256.size() != 64) {
        return "index checksum is malformed";
    }
    return {};
}

// Why `header` is not a valid header, or empty if it is.
std::string validation_problem(const DiskHeader& header) {
    using keys::EncryptionType;
    if (header.sector_size != 512 && header.sector_size != 4096) {
        return fmt::format("sector size {} (must be 512 or 4096)", header.sector_size);
    }
    if (header.size == 0 || header.size % header.sector_size != 0) {
        return fmt::format("size {} (must be a positive multiple of the {}-byte sector size)",
                           header.size, header.sector_size);
    }
    if (header.data_offset < 2 * header_slot_size || header.data_offset % 4096 != 0) {
        return fmt::format("data offset {} (must be a multiple of 4096, at least {})",
                           header.data_offset, 2 * header_slot_size);
    }
    if (header.data_offset > max_backing_size ||
        header.size > max_backing_size - header.data_offset) {
        return fmt::format("size {} at data offset {} ends past the largest file offset",
                           header.size, header.data_offset);
    }
    if (!is_uuid(header.uuid) || header.set_name.empty()) {
        return fmt::format("disk UUID '{}' or encryption set name '{}' is malformed", header.uuid,
                           header.set_name);
    }
    const bool is_double = header.set_type == EncryptionType::double_;
    if (header.layers.size() != (is_double ? 2u : 1u)) {
        return fmt::format("{} cipher layers for encryption type {}", header.layers.size(),
                           keys::to_string(header.set_type));
    }
    if (header.cache) {
        if (std::string problem = cache_problem(header); !problem.empty()) {
            return problem;
        }
    }
    for (std::size_t i = 0; i < header.layers.size(); ++i) {
        const CipherLayer& layer = header.layers[i];
        const bool outer_platform_layer =
            header.set_type == EncryptionType::platform || (is_double && i == 1);
        const bool platform_kek = layer.kek.provider == keys::platform_provider;
        if (layer.cipher != xts_cipher_name) {
            return fmt::format("layer {} uses unknown cipher '{}'", i, layer.cipher);
        }
        if (layer.wrapped_dek.empty() || layer.kek.name.empty() || layer.kek.version == 0) {
            return fmt::format("layer {} has no wrapped key or key reference", i);
        }
        if (platform_kek != outer_platform_layer) {
            return fmt::format("layer {} is wrapped by {}, which does not fit type {}", i,
                               keys::to_string(layer.kek), keys::to_string(header.set_type));
        }
    }
    return {};
}

json metadata_of(const DiskHeader& header) {
    json layers = json::array();
    for (const CipherLayer& layer : header.layers) {
        layers.push_back({{"cipher", layer.cipher},
                          {"kek", layer.kek},
                          {"wrapped_dek", to_hex(layer.wrapped_dek)}});
    }
    json metadata{
        {"format", header.cache ? "hostcrypt-cache" : "hostcrypt-disk"},
        {"uuid", header.uuid},
        {"size", header.size},
        {"sector_size", header.sector_size},
        {"data_offset", header.data_offset},
        {"encryption_set", {{"name", header.set_name}, {"type", keys::to_string(header.set_type)}}},
        {"layers", layers},
        {"created", format_utc(header.created)},
        {"rotated", header.rotated ? json(format_utc(*header.rotated)) : json(nullptr)},
    };
    if (header.cache) {
        const CacheMetadata& cache = *header.cache;
        metadata["cache"] = {
            {"disk_uuid", cache.disk_uuid},       {"mode", to_string(cache.mode)},
            {"index_offset", cache.index_offset}, {"clean", cache.clean},
            {"index_sha256", cache.index_sha256}, {"dirty_sectors", cache.dirty_sectors}};
    }
    return metadata;
}

DiskHeader header_of(const json& metadata) {
    const std::string format = metadata.at("format").get<std::string>();
    if (format != "hostcrypt-disk" && format != "hostcrypt-cache") {
        throw std::invalid_argument(fmt::format("unknown format '{}'", format));
    }
    DiskHeader header;
    if (format == "hostcrypt-cache") {
        const json& cache = metadata.at("cache");
        header.cache = CacheMetadata{cache.at("disk_uuid").get<std::string>(),
                                     parse_cache_mode(cache.at("mode").get<std::string>()),
                                     cache.at("index_offset").get<std::uint64_t>(),
                                     cache.at("clean").get<bool>(),
                                     cache.at("index_sha256").get<std::string>(),
                                     cache.at("dirty_sectors").get<std::uint64_t>()};
    } else if (metadata.contains("cache")) {
        throw std::invalid_argument("a disk header with cache fields");
    }
    header.uuid = metadata.at("uuid").get<std::string>();
    header.size = metadata.at("size").get<std::uint64_t>();
    // Read wide and check: get<uint32_t> would silently truncate 2^32 + 4096 to 4096.
    const auto sector_size = metadata.at("sector_size").get<std::uint64_t>();
    if (sector_size > 65536) {
        throw std::invalid_argument(fmt::format("sector size {} is impossible", sector_size));
    }
    header.sector_size = static_cast<std::uint32_t>(sector_size);
    header.data_offset = metadata.at("data_offset").get<std::uint64_t>();
    header.set_name = metadata.at("encryption_set").at("name").get<std::string>();
    header.set_type =
        keys::parse_encryption_type(metadata.at("encryption_set").at("type").get<std::string>());
    for (const json& entry : metadata.at("layers")) {
        CipherLayer layer;
        layer.cipher = entry.at("cipher").get<std::string>();
        layer.kek = entry.at("kek").get<keys::KeyRef>();
        layer.wrapped_dek = from_hex(entry.at("wrapped_dek").get<std::string>());
        header.layers.push_back(std::move(layer));
    }
    header.created = parse_utc(metadata.at("created").get<std::string>());
    if (!metadata.at("rotated").is_null()) {
        header.rotated = parse_utc(metadata.at("rotated").get<std::string>());
    }
    return header;
}

}  // namespace

std::vector<std::byte> encode_header_slot(const DiskHeader& header, const std::string& disk) {
    if (const std::string problem = validation_problem(header); !problem.empty()) {
        throw DiskError(DiskErrc::invalid_argument,
                        fmt::format("disk {}: invalid header: {}", disk, problem));
    }
    // nlohmann::json keeps object keys sorted, so the encoding is canonical.
    const std::string metadata = metadata_of(header).dump();
    if (metadata.size() > max_metadata) {
        throw DiskError(DiskErrc::invalid_argument,
                        fmt::format("disk {}: header metadata of {} bytes exceeds {}", disk,
                                    metadata.size(), max_metadata));
    }
    std::vector<std::byte> slot(header_slot_size);
    std::memcpy(slot.data(), magic.data(), magic.size());
    store_le<std::uint16_t>(slot, version_offset, header_format_version);
    store_le<std::uint16_t>(slot, flags_offset, 0);
    store_le<std::uint32_t>(slot, length_offset, static_cast<std::uint32_t>(metadata.size()));
    store_le<std::uint64_t>(slot, sequence_offset, header.sequence);
    std::memcpy(slot.data() + prefix_size, metadata.data(), metadata.size());
    const auto checksum = slot_checksum(std::span(slot).first(prefix_size + metadata.size()));
    std::copy(checksum.begin(), checksum.end(), slot.begin() + checksum_offset);
    return slot;
}

DiskHeader decode_header_slot(std::span<const std::byte> slot, const std::string& disk) {
    const auto fail = [&disk](DiskErrc code, const std::string& what) -> DiskError {
        return DiskError(code, fmt::format("disk {}: {}", disk, what));
    };
    // The magic decides whether this is a hostcrypt header at all, judged on
    // whatever bytes there are: a short foreign file is foreign, not truncated.
    const std::size_t magic_bytes = std::min(slot.size(), magic.size());
    const auto head = slot.first(std::min(slot.size(), prefix_size));
    if (std::all_of(head.begin(), head.end(), [](std::byte b) { return b == std::byte{0}; })) {
        throw fail(DiskErrc::not_hostcrypt, "no hostcrypt header (the header area is empty)");
    }
    if (std::memcmp(slot.data(), magic.data(), magic_bytes) != 0) {
        throw fail(DiskErrc::not_hostcrypt,
                   "not a hostcrypt disk (foreign data where the header belongs)");
    }
    if (slot.size() < prefix_size) {
        throw fail(DiskErrc::truncated,
                   fmt::format("header is truncated ({} of {} bytes)", slot.size(), prefix_size));
    }
    const auto version = load_le<std::uint16_t>(slot, version_offset);
    if (version != header_format_version) {
        throw fail(DiskErrc::unsupported_version,
                   fmt::format("header format version {}; this hostcrypt reads version {}", version,
                               header_format_version));
    }
    const auto length = load_le<std::uint32_t>(slot, length_offset);
    if (length == 0 || length > max_metadata) {
        throw fail(DiskErrc::bad_checksum,
                   fmt::format("header metadata length {} is impossible", length));
    }
    if (prefix_size + length > slot.size()) {
        throw fail(DiskErrc::truncated, fmt::format("header is truncated ({} of {} bytes)",
                                                    slot.size(), prefix_size + length));
    }
    const auto used = slot.first(prefix_size + length);
    const auto checksum = slot_checksum(used);
    if (!std::equal(checksum.begin(), checksum.end(), used.begin() + checksum_offset)) {
        throw fail(DiskErrc::bad_checksum, "header checksum does not match (damaged header)");
    }
    // Version 1 defines these bytes as zero; anything else is not a header
    // this build understands, even with a matching checksum.
    const auto is_zero = [](std::byte b) { return b == std::byte{0}; };
    const auto reserved = slot.subspan(checksum_offset + 32, prefix_size - checksum_offset - 32);
    const auto tail = slot.subspan(prefix_size + length);
    if (load_le<std::uint16_t>(slot, flags_offset) != 0 ||
        !std::all_of(reserved.begin(), reserved.end(), is_zero) ||
        !std::all_of(tail.begin(), tail.end(), is_zero)) {
        throw fail(DiskErrc::corrupt, "header has non-zero flags, reserved or trailing bytes");
    }
    DiskHeader header;
    try {
        const auto* text = reinterpret_cast<const char*>(used.data() + prefix_size);
        header = header_of(json::parse(text, text + length));
    } catch (const std::exception& error) {
        throw fail(DiskErrc::corrupt, fmt::format("header metadata is invalid: {}", error.what()));
    }
    if (const std::string problem = validation_problem(header); !problem.empty()) {
        throw fail(DiskErrc::corrupt, fmt::format("header is invalid: {}", problem));
    }
    header.sequence = load_le<std::uint64_t>(slot, sequence_offset);
    return header;
}

const char* to_string(CacheMode mode) noexcept {
    return mode == CacheMode::read_write ? "read-write" : "read-only";
}

CacheMode parse_cache_mode(const std::string& text) {
    if (text == "read-only") {
        return CacheMode::read_only;
    }
    if (text == "read-write") {
        return CacheMode::read_write;
    }
    throw std::invalid_argument(
        fmt::format("cache mode '{}' is not read-only or read-write", text));
}

std::string random_uuid() {
    std::array<std::byte, 16> bytes{};
    crypto::fill_random(bytes);
    bytes[6] = (bytes[6] & std::byte{0x0f}) | std::byte{0x40};  // version 4
    bytes[8] = (bytes[8] & std::byte{0x3f}) | std::byte{0x80};  // RFC 4122 variant
    const std::string hex = to_hex(bytes);
    return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                       hex.substr(16, 4), hex.substr(20));
}

}  // namespace hostcrypt::disk
