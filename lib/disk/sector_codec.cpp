#include "disk/sector_codec.hpp"

#include <algorithm>
#include <cstring>

namespace hostcrypt::disk {

namespace {

bool is_hole(std::span<const std::byte> sector) {
    // A ciphertext almost never starts with 16 zero bytes, so this is O(1)
    // for real data and a full scan only for actual holes.
    return std::all_of(sector.begin(), sector.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

void encrypt_sectors(crypto::CipherStack& cipher, std::span<std::byte> data,
                     std::uint64_t first_sector) {
    cipher.encrypt(data, first_sector);
}

void decrypt_sectors(crypto::CipherStack& cipher, std::span<std::byte> data,
                     std::uint64_t first_sector) {
    const std::size_t sector_size = cipher.sector_size();
    std::size_t run_start = 0;  // decrypt runs of non-hole sectors in one call
    for (std::size_t offset = 0; offset <= data.size(); offset += sector_size) {
        const bool at_end = offset == data.size();
        if (!at_end && !is_hole(data.subspan(offset, sector_size))) {
            continue;
        }
        if (offset > run_start) {
            cipher.decrypt(data.subspan(run_start, offset - run_start),
                           first_sector + run_start / sector_size);
        }
        run_start = offset + sector_size;  // the hole already reads as zeros
    }
}

}  // namespace hostcrypt::disk
