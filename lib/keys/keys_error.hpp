#pragma once

#include <string>

#include "common/error.hpp"
#include "keys/key_health.hpp"

namespace hostcrypt::keys {

enum class KeysErrc {
    not_found,         // no such key, version, set or vault
    already_exists,    // a create that would overwrite
    key_unusable,      // the KEK exists but may not be used now: see state()
    refused,           // a policy says no (purge protection, set still in use)
    invalid_argument,  // a bad name, type, size or time
    unwrap_failed,     // the blob does not unwrap under the named KEK
    storage,           // the state directory is missing, corrupt or unsafe
};

class KeysError : public Error {
  public:
    KeysError(KeysErrc code, const std::string& message, KeyState state = KeyState::usable)
        : Error(message), code_(code), state_(state) {}
    KeysErrc code() const noexcept { return code_; }
    // For key_unusable: why the key may not be used.
    KeyState state() const noexcept { return state_; }

  private:
    KeysErrc code_;
    KeyState state_;
};

// Names are file names below the state directory and appear in KeyRefs:
// 1 to 63 characters of [A-Za-z0-9._-], not starting with '.' or '-'.
// Throws KeysError(invalid_argument) naming `what` otherwise.
void check_name(const std::string& name, const char* what);
bool is_valid_name(const std::string& name) noexcept;

}  // namespace hostcrypt::keys
