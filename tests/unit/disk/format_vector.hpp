#pragma once

// The header of docs/format.md's test vector: a 1 GiB `double` disk with
// 4096-byte sectors, its inner layer under an AES key of vault "local", its
// outer layer under platform key version 1. The wrapped keys are stand-in
// bytes (00..47 and 80..c7), since only their encoding matters here.

#include <cstddef>
#include <vector>

#include "disk/disk_header.hpp"

namespace hostcrypt::disk::test {

inline std::vector<std::byte> counting_bytes(unsigned first, std::size_t count) {
    std::vector<std::byte> bytes(count);
    for (std::size_t i = 0; i < count; ++i) {
        bytes[i] = static_cast<std::byte>(first + i);
    }
    return bytes;
}

inline DiskHeader format_vector_header() {
    DiskHeader header;
    header.uuid = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    header.size = 1ull << 30;
    header.sector_size = 4096;
    header.data_offset = default_data_offset;
    header.set_name = "web";
    header.set_type = keys::EncryptionType::double_;
    header.layers.push_back(
        {xts_cipher_name, {"vault:local", "app-key", 2}, counting_bytes(0x00, 72)});
    header.layers.push_back(
        {xts_cipher_name, {"platform", "platform-kek", 1}, counting_bytes(0x80, 72)});
    header.created = parse_utc("2026-11-23T09:00:00Z");
    header.sequence = 7;
    return header;
}

}  // namespace hostcrypt::disk::test
