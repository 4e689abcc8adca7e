#pragma once

// A DEK's public name: 16 hex digits of SHA-256 over a domain label and the
// key. It shows which tiers share a key (none should) and that a key changed,
// without revealing anything of a 512-bit random key.

#include <string>

#include "crypto/secure_bytes.hpp"

namespace hostcrypt::disk {

std::string dek_id(const crypto::SecureBytes& dek);

}  // namespace hostcrypt::disk
