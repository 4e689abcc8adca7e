#pragma once

// How plaintext sectors map to stored sectors (docs/format.md, "Data area"):
// sector n of the disk is stored at data_offset + n * sector_size, encrypted
// by every cipher layer with tweak n. A stored sector that is all zero bytes
// is a hole — never written, trimmed, or punched — and reads as zeros: a real
// ciphertext is all zeros with probability 2^-4096. Writes never produce one.
//
// Used by the offline tools and the data path alike.

#include <cstdint>
#include <span>

#include "crypto/cipher_stack.hpp"

namespace hostcrypt::disk {

// In place; `data` is whole sectors starting at `first_sector`.
void encrypt_sectors(crypto::CipherStack& cipher, std::span<std::byte> data,
                     std::uint64_t first_sector);
// In place; holes become zeros, everything else is decrypted.
void decrypt_sectors(crypto::CipherStack& cipher, std::span<std::byte> data,
                     std::uint64_t first_sector);

}  // namespace hostcrypt::disk
