#include <fmt/format.h>

#include "keys/key_vault.hpp"
#include "keys/keys_error.hpp"

namespace hostcrypt::keys {

const char* to_string(KeyType type) noexcept {
    switch (type) {
        case KeyType::rsa2048:
            return "rsa-2048";
        case KeyType::rsa3072:
            return "rsa-3072";
        case KeyType::rsa4096:
            return "rsa-4096";
        case KeyType::aes256:
            return "aes-256";
    }
    return "unknown";
}

KeyType parse_key_type(const std::string& text) {
    for (const KeyType type :
         {KeyType::rsa2048, KeyType::rsa3072, KeyType::rsa4096, KeyType::aes256}) {
        if (text == to_string(type)) {
            return type;
        }
    }
    throw KeysError(KeysErrc::invalid_argument,
                    fmt::format("unknown key type '{}': use rsa-2048, rsa-3072, rsa-4096 or "
                                "aes-256",
                                text));
}

}  // namespace hostcrypt::keys
