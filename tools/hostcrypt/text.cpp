#include "text.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "keys/key_ref.hpp"

namespace hostcrypt::tools {

std::uint64_t parse_size(const std::string& text) {
    static constexpr std::pair<char, int> units[] = {{'K', 10}, {'M', 20}, {'G', 30}, {'T', 40}};
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    int shift = 0;
    std::string suffix = text.substr(used);
    if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b')) {
        suffix.pop_back();  // "10GB", "10GiB" read as binary units too
    }
    if (!suffix.empty() && suffix.back() == 'i') {
        suffix.pop_back();
    }
    if (suffix.size() == 1) {
        const auto unit = std::find_if(std::begin(units), std::end(units), [&](const auto& u) {
            return u.first == std::toupper(static_cast<unsigned char>(suffix[0]));
        });
        shift = unit != std::end(units) ? unit->second : -1;
    } else if (!suffix.empty()) {
        shift = -1;
    }
    const double bytes = std::ldexp(value, shift);
    if (used == 0 || shift < 0 || !(value > 0) || bytes > 1e18 || bytes != std::floor(bytes)) {
        throw UsageError(
            fmt::format("'{}' is not a size: use bytes or a number with K, M, G or T "
                        "(binary units), e.g. 10G",
                        text));
    }
    return static_cast<std::uint64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
    static constexpr const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(names)) {
        value /= 1024;
        ++unit;
    }
    return value == std::floor(value) ? fmt::format("{:.0f} {}", value, names[unit])
                                      : fmt::format("{:.1f} {}", value, names[unit]);
}

nlohmann::json parse_optional_time(const std::string& text) {
    if (text == "never" || text == "none") {
        return nullptr;
    }
    try {
        return format_utc(parse_utc(text));
    } catch (const Error& error) {
        throw UsageError(error.what());
    }
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths(header.size());
    for (std::size_t i = 0; i < header.size(); ++i) {
        widths[i] = header[i].size();
        for (const auto& row : rows) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    const auto print_row = [&](const std::vector<std::string>& row) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], widths[i]) : row[i];
        }
        std::cout << line << '\n';
    };
    print_row(header);
    for (const auto& row : rows) {
        print_row(row);
    }
}

void print_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::size_t width = 0;
    for (const auto& [key, value] : fields) {
        width = std::max(width, key.size());
    }
    for (const auto& [key, value] : fields) {
        std::cout << fmt::format("{:<{}}  {}\n", key + ":", width + 1, value);
    }
}

std::string set_key_text(const nlohmann::json& set) {
    if (!set.contains("vault")) {
        return "platform key";
    }
    const nlohmann::json& version = set.at("key_version");
    return fmt::format("{}/{}@{}", set.at("vault").get<std::string>(),
                       set.at("key").get<std::string>(),
                       version.is_string() ? version.get<std::string>() : version.dump());
}

bool print_rewrap(const nlohmann::json& outcomes) {
    bool all_ok = true;
    if (outcomes.empty()) {
        std::cout << "no disks to re-wrap\n";
    }
    for (const nlohmann::json& outcome : outcomes) {
        const std::string disk = outcome.at("disk");
        if (outcome.contains("error")) {
            all_ok = false;
            std::cout << fmt::format("disk {}: FAILED: {}\n", disk,
                                     outcome.at("error").get<std::string>());
        } else if (!outcome.at("changed").get<bool>()) {
            std::cout << fmt::format("disk {}: already current\n", disk);
        } else {
            std::vector<std::string> changes;
            for (std::size_t i = 0; i < outcome.at("before").size(); ++i) {
                const keys::KeyRef before = outcome.at("before")[i];
                const keys::KeyRef after = outcome.at("after")[i];
                if (before != after) {
                    changes.push_back(
                        fmt::format("{} -> {}", keys::to_string(before), keys::to_string(after)));
                }
            }
            std::cout << fmt::format("disk {}: re-wrapped {}\n", disk, fmt::join(changes, ", "));
        }
    }
    return all_ok;
}

bool any_failed(const nlohmann::json& outcomes) {
    for (const nlohmann::json& outcome : outcomes) {
        if (outcome.contains("error")) {
            return true;
        }
    }
    return false;
}

}  // namespace hostcrypt::tools
