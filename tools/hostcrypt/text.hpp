#pragma once

// Text conventions of the command line: sizes, times, tables.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/utc_time.hpp"

namespace hostcrypt::tools {

// A value on the command line that cannot be understood (exit code 2).
class UsageError : public Error {
  public:
    using Error::Error;
};

// "10G", "512M", "4096", "1.5T" with binary units (K = 1024); throws
// UsageError for anything else.
std::uint64_t parse_size(const std::string& text);
// 1073741824 -> "1 GiB", 1536 -> "1.5 KiB"
std::string format_size(std::uint64_t bytes);

// A UTC time (2026-12-31T23:59:00Z), or "never"/"none" for no bound;
// throws UsageError otherwise.
std::optional<TimePoint> parse_optional_time(const std::string& text);
nlohmann::json json_time(const std::optional<TimePoint>& time);

// A plain aligned table on stdout: header row, then rows.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);
// "key: value" lines on stdout, keys aligned.
void print_fields(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace hostcrypt::tools
