#pragma once

// Typed access to a control call's "params" object. Every accessor names the
// parameter in its error, so a caller that sends {"size": "10G"} learns that
// "size" must be a number. Unknown parameters are refused too: a misspelled
// option must not silently fall back to a default.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/utc_time.hpp"

namespace hostcrypt::control {

class Params {
  public:
    // Throws invalid_params unless `params` is an object or null (no params).
    explicit Params(const nlohmann::json& params);

    std::string required_string(const std::string& name);
    std::optional<std::string> optional_string(const std::string& name);
    std::string string_or(const std::string& name, const std::string& fallback);
    // An array of strings; empty when absent.
    std::vector<std::string> string_list(const std::string& name);
    std::uint64_t required_uint(const std::string& name);
    std::optional<std::uint64_t> optional_uint(const std::string& name);
    bool bool_or(const std::string& name, bool fallback);
    // Whether the parameter is present at all (null included): for params
    // where null means "clear" and absence means "leave as it is".
    bool has(const std::string& name) const { return params_.contains(name); }
    // A UTC time ("2026-12-31T23:59:00Z"), or null/absent for none.
    std::optional<TimePoint> optional_time(const std::string& name);

    // A duration ("90d", "12h", "30m", "10s"), or null/absent for none.
    std::optional<std::chrono::seconds> optional_duration(const std::string& name);

    // Throws invalid_params naming any parameter no accessor asked for.
    // Methods call it after reading their params and before acting.
    void finish() const;

  private:
    const nlohmann::json* find(const std::string& name);

    nlohmann::json params_;
    std::set<std::string> used_;
};

}  // namespace hostcrypt::control
