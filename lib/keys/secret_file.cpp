#include "keys/secret_file.hpp"

#include <fcntl.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "keys/keys_error.hpp"
#include "keys/storage_error.hpp"

namespace hostcrypt::keys {

namespace fs = std::filesystem;
using crypto::SecureBytes;

crypto::SecureBytes load_or_create_secret(const fs::path& file, std::size_t size,
                                          bool create_if_absent, std::string_view what,
                                          std::string_view protects) {
    return as_storage_error([&] {
        if (!fs::exists(file)) {
            if (!create_if_absent) {
                throw KeysError(KeysErrc::storage,
                                fmt::format("{} {} is missing; refusing to create a new one, "
                                            "which would orphan {}: restore it from a backup",
                                            what, file.string(), protects));
            }
            SecureBytes secret = SecureBytes::random(size);
            write_file_atomically(file, secret.bytes(), 0600);
            return secret;
        }
        check_private_file(file);
        // One byte more than expected, to tell "too long" from "just right".
        SecureBytes secret(size + 1);
        UniqueFd fd = open_file(file, O_RDONLY);
        const std::size_t length = read_at_most(fd.get(), secret.bytes(), 0, file);
        if (length != size) {
            throw KeysError(KeysErrc::storage,
                            fmt::format("{} {} is {} bytes, not {} bytes: it is damaged or not a "
                                        "{}; restore it from a backup",
                                        what, file.string(),
                                        length > size ? fmt::format("more than {}", size)
                                                      : std::to_string(length),
                                        size, what));
        }
        secret.truncate(size);
        return secret;
    });
}

}  // namespace hostcrypt::keys
