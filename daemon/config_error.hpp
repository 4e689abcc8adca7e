#pragma once

#include <string>

#include "common/error.hpp"

namespace hostcrypt::daemon {

enum class ConfigErrc {
    not_found,      // the named config file does not exist
    unreadable,     // it exists but cannot be read
    syntax,         // it is not TOML
    unknown_key,    // a key this version does not know (often a typo)
    wrong_type,     // a string where a number belongs, and so on
    invalid_value,  // the right type, but out of range or malformed
};

const char* to_string(ConfigErrc code) noexcept;

// Every message names where the setting came from (file and line, or the
// command-line option), the key, and what is expected instead.
class ConfigError : public Error {
  public:
    ConfigError(ConfigErrc code, const std::string& message) : Error(message), code_(code) {}
    ConfigErrc code() const noexcept { return code_; }

  private:
    ConfigErrc code_;
};

}  // namespace hostcrypt::daemon
