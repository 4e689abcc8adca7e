#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "crypto/secure_bytes.hpp"

namespace hostcrypt::keys {

// Reads the secret in `file` straight into locked memory. The file must be
// private (owner only) and exactly `size` bytes. If it is absent and
// `create_if_absent`, writes fresh random bytes first (0600, crash-atomic);
// if absent otherwise, refuses: a new secret would orphan `protects`.
// `what` names the secret in messages. Throws KeysError(storage).
crypto::SecureBytes load_or_create_secret(const std::filesystem::path& file, std::size_t size,
                                          bool create_if_absent, std::string_view what,
                                          std::string_view protects);

}  // namespace hostcrypt::keys
