#include "control/params.hpp"

#include <fmt/format.h>

#include "common/duration.hpp"
#include "control/control_error.hpp"

namespace hostcrypt::control {

using nlohmann::json;

Params::Params(const json& params) : params_(params.is_null() ? json::object() : params) {
    if (!params_.is_object()) {
        throw invalid_params("params must be an object");
    }
}

const json* Params::find(const std::string& name) {
    used_.insert(name);
    const auto found = params_.find(name);
    return found == params_.end() || found->is_null() ? nullptr : &*found;
}

std::optional<std::string> Params::optional_string(const std::string& name) {
    const json* value = find(name);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (!value->is_string()) {
        throw invalid_params(fmt::format("parameter '{}' must be a string", name));
    }
    return value->get<std::string>();
}

std::string Params::required_string(const std::string& name) {
    std::optional<std::string> value = optional_string(name);
    if (!value) {
        throw invalid_params(fmt::format("parameter '{}' is required", name));
    }
    return *value;
}

std::string Params::string_or(const std::string& name, const std::string& fallback) {
    return optional_string(name).value_or(fallback);
}

std::vector<std::string> Params::string_list(const std::string& name) {
    const json* value = find(name);
    std::vector<std::string> items;
    if (value == nullptr) {
        return items;
    }
    if (!value->is_array()) {
        throw invalid_params(fmt::format("parameter '{}' must be an array of strings", name));
    }
    for (const json& item : *value) {
        if (!item.is_string()) {
            throw invalid_params(fmt::format("parameter '{}' must be an array of strings", name));
        }
        items.push_back(item.get<std::string>());
    }
    return items;
}

std::optional<std::uint64_t> Params::optional_uint(const std::string& name) {
    const json* value = find(name);
    if (value == nullptr) {
        return std::nullopt;
    }
    // Parsed text gives unsigned numbers, JSON built in C++ may give signed ones.
    if (!value->is_number_integer() ||
        (!value->is_number_unsigned() && value->get<std::int64_t>() < 0)) {
        throw invalid_params(
            fmt::format("parameter '{}' must be a non-negative whole number", name));
    }
    return value->get<std::uint64_t>();
}

std::uint64_t Params::required_uint(const std::string& name) {
    std::optional<std::uint64_t> value = optional_uint(name);
    if (!value) {
        throw invalid_params(fmt::format("parameter '{}' is required", name));
    }
    return *value;
}

bool Params::bool_or(const std::string& name, bool fallback) {
    const json* value = find(name);
    if (value == nullptr) {
        return fallback;
    }
    if (!value->is_boolean()) {
        throw invalid_params(fmt::format("parameter '{}' must be true or false", name));
    }
    return value->get<bool>();
}

std::optional<TimePoint> Params::optional_time(const std::string& name) {
    const std::optional<std::string> text = optional_string(name);
    if (!text) {
        return std::nullopt;
    }
    try {
        return parse_utc(*text);
    } catch (const Error& error) {
        throw invalid_params(fmt::format("parameter '{}': {}", name, error.what()));
    }
}

std::optional<std::chrono::seconds> Params::optional_duration(const std::string& name) {
    const std::optional<std::string> text = optional_string(name);
    if (!text) {
        return std::nullopt;
    }
    try {
        return parse_duration(*text);
    } catch (const Error& error) {
        throw invalid_params(fmt::format("{}: {}", name, error.what()));
    }
}

void Params::finish() const {
    for (const auto& [name, value] : params_.items()) {
        if (!used_.contains(name)) {
            throw invalid_params(fmt::format("unknown parameter '{}'", name));
        }
    }
}

}  // namespace hostcrypt::control
