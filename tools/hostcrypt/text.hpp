#pragma once

// Text conventions of the command line: sizes, times, tables.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/utc_time.hpp"
#include "control/control_error.hpp"
#include "control/exit_codes.hpp"

namespace hostcrypt::tools {

// A value on the command line that cannot be understood (exit code 2).
class UsageError : public control::ControlError {
  public:
    explicit UsageError(const std::string& message)
        : ControlError(control::exit_usage, "usage", message) {}
};

// "10G", "512M", "4096", "1.5T" with binary units (K = 1024); throws
// UsageError for anything else.
std::uint64_t parse_size(const std::string& text);
// 1073741824 -> "1 GiB", 1536 -> "1.5 KiB"
std::string format_size(std::uint64_t bytes);

// The key reference a set follows, as people read it: "local/app-key@latest".
std::string set_key_text(const nlohmann::json& set);
// Prints what control::rewrap_view describes; returns false if any disk failed.
bool print_rewrap(const nlohmann::json& outcomes);
// Whether a rewrap view has a disk that failed.
bool any_failed(const nlohmann::json& outcomes);

// A UTC time (2026-12-31T23:59:00Z), or "never"/"none" for no bound;
// throws UsageError otherwise.
// Returned as the control API's time parameter: a UTC string, or null.
nlohmann::json parse_optional_time(const std::string& text);

// A plain aligned table on stdout: header row, then rows.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);
// "key: value" lines on stdout, keys aligned.
void print_fields(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace hostcrypt::tools
