#include "keys/keys_error.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace hostcrypt::keys {

bool is_valid_name(const std::string& name) noexcept {
    if (name.empty() || name.size() > 63 || name.front() == '.' || name.front() == '-') {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

void check_name(const std::string& name, const char* what) {
    if (!is_valid_name(name)) {
        throw KeysError(KeysErrc::invalid_argument,
                        fmt::format("invalid {} name '{}': use 1 to 63 characters of A-Z a-z 0-9 "
                                    ". _ -, not starting with '.' or '-'",
                                    what, name));
    }
}

}  // namespace hostcrypt::keys
