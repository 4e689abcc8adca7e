#pragma once

// The on-disk header of a persisted disk (docs/format.md is the reference):
// a fixed 64-byte binary prefix (magic, version, length, sequence number,
// SHA-256 checksum) followed by compact JSON metadata, in a 16 KiB slot. The
// backing store holds two slots; see header_slots.hpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/utc_time.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_ref.hpp"

namespace hostcrypt::disk {

inline constexpr std::size_t header_slot_size = 16 * 1024;
inline constexpr std::uint64_t header_slot_offsets[2] = {0, header_slot_size};
inline constexpr std::uint64_t default_data_offset = 1024 * 1024;
inline constexpr std::uint16_t header_format_version = 1;
inline constexpr const char* xts_cipher_name = "aes-256-xts-plain64";
// data_offset + size must fit a file offset (off_t).
inline constexpr std::uint64_t max_backing_size = (std::uint64_t{1} << 63) - 1;
// A cache index entry: the cached disk sector (u64) and its state (u64).
inline constexpr std::uint64_t cache_index_entry_size = 16;

struct CipherLayer {
    std::string cipher = xts_cipher_name;
    keys::KeyRef kek;                    // the key-encryption key version that wraps the DEK
    std::vector<std::byte> wrapped_dek;  // opaque to the disk; only kek's provider opens it
};

// A host cache file (cache_file.hpp) uses the same header, with format
// "hostcrypt-cache" and these fields: its data area holds cached sectors of
// the disk `disk_uuid`, encrypted under the cache's own DEKs (the header's
// layers), and its index sits between the header slots and the data area.
enum class CacheMode { read_only, read_write };
const char* to_string(CacheMode mode) noexcept;
// Throws std::invalid_argument naming the accepted modes.
CacheMode parse_cache_mode(const std::string& text);

struct CacheMetadata {
    std::string disk_uuid;  // the disk whose sectors it caches
    CacheMode mode = CacheMode::read_only;
    std::uint64_t index_offset = 0;  // where the index starts
    // Written at a clean close, with the index's SHA-256 and dirty count;
    // while the cache is in use it is false, so a crash leaves it false.
    bool clean = false;
    std::string index_sha256;  // hex; empty when no index was written
    std::uint64_t dirty_sectors = 0;

    bool operator==(const CacheMetadata&) const = default;
};

struct DiskHeader {
    std::string uuid;
    std::uint64_t size = 0;  // bytes the disk exposes
    std::uint32_t sector_size = 4096;
    std::uint64_t data_offset = default_data_offset;
    std::string set_name;
    keys::EncryptionType set_type = keys::EncryptionType::platform;
    std::vector<CipherLayer> layers;  // innermost first
    TimePoint created;
    std::optional<TimePoint> rotated;
    std::uint64_t sequence = 0;          // which slot write is newest; set by HeaderSlots
    std::optional<CacheMetadata> cache;  // set for a cache file, not for a disk

    std::uint64_t sector_count() const noexcept { return size / sector_size; }
    std::uint64_t backing_size() const noexcept { return data_offset + size; }
};

// Validates `header` (DiskError(invalid_argument) naming `disk`) and encodes
// it into one slot of header_slot_size bytes.
std::vector<std::byte> encode_header_slot(const DiskHeader& header, const std::string& disk);

// Decodes one slot; throws DiskError(not_hostcrypt | truncated | bad_checksum |
// unsupported_version | corrupt) naming `disk`.
DiskHeader decode_header_slot(std::span<const std::byte> slot, const std::string& disk);

// A random RFC 4122 version 4 UUID in its text form.
std::string random_uuid();

}  // namespace hostcrypt::disk
