// hostcrypt platform rotate [--if-older-than DURATION] | show

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "common/duration.hpp"
#include "disk/rotation.hpp"
#include "exit_codes.hpp"
#include "text.hpp"
#include "views.hpp"

namespace hostcrypt::tools {

namespace {

using nlohmann::json;

json versions_view(Context& context) {
    disk::Rotation rotation(context.catalog(), context.sets(), context.providers());
    const std::set<std::uint32_t> in_use = rotation.platform_versions_in_use();
    json versions = json::array();
    for (const keys::KeyVersionInfo& info : context.providers().platform().versions()) {
        versions.push_back({{"version", info.version},
                            {"created", format_utc(info.created)},
                            {"in_use", in_use.contains(info.version)}});
    }
    return versions;
}

void print_versions(const json& versions) {
    std::vector<std::vector<std::string>> rows;
    for (const json& v : versions) {
        rows.push_back({std::to_string(v.at("version").get<std::uint32_t>()), v.at("created"),
                        v.at("in_use").get<bool>() ? "yes" : "no"});
    }
    print_table({"VERSION", "CREATED", "WRAPS DISKS"}, rows);
}

std::chrono::seconds parse_max_age(const std::string& text) {
    try {
        return parse_duration(text);
    } catch (const Error& error) {
        throw UsageError(fmt::format("--if-older-than: {}", error.what()));
    }
}

// Rotates (unless `max_age` is given and the newest version is younger), then
// re-wraps and prunes either way: after a run that left some disks behind
// (exit 8), the next run of the same timer finishes their re-wrap even though
// the key is young now.
json rotate_platform_key(Context& context, std::optional<std::chrono::seconds> max_age) {
    disk::Rotation rotation(context.catalog(), context.sets(), context.providers());
    const disk::PlatformRotation outcome = rotation.rotate_platform_key(max_age);
    if (!outcome.complete()) {
        context.exit_code = exit_incomplete;
    }
    json result{{"rotated", outcome.added.has_value()},
                {"version", outcome.newest.version},
                {"created", format_utc(outcome.newest.created)},
                {"rewrapped", rewrap_view(outcome.rewrapped)},
                {"removed_versions", outcome.removed}};
    if (max_age) {
        result["if_older_than"] = format_duration(*max_age);
    }
    return result;
}

void print_rotation(const json& result) {
    const auto version = result.at("version").get<std::uint32_t>();
    if (result.at("rotated").get<bool>()) {
        std::cout << fmt::format("platform key is now at version {}\n", version);
        print_rewrap(result.at("rewrapped"));
    } else {
        std::cout << fmt::format(
            "platform key version {} (created {}) is younger than {}: not rotated\n", version,
            result.at("created").get<std::string>(), result.at("if_older_than").get<std::string>());
        // Only what an earlier, incomplete rotation left behind is news here.
        json behind = json::array();
        for (const json& outcome : result.at("rewrapped")) {
            if (outcome.contains("error") || outcome.at("changed").get<bool>()) {
                behind.push_back(outcome);
            }
        }
        if (!behind.empty()) {
            print_rewrap(behind);
        }
    }
    if (!result.at("removed_versions").empty()) {
        const auto removed_versions =
            result.at("removed_versions").get<std::vector<std::uint32_t>>();
        std::cout << fmt::format("removed unused versions: {}\n",
                                 fmt::join(removed_versions, ", "));
    }
}

}  // namespace

void add_platform_commands(CLI::App& app, Context& context) {
    CLI::App* platform = app.add_subcommand("platform", "the platform key");
    platform->require_subcommand(1);

    platform->add_subcommand("show", "list the platform key versions")->callback([&context] {
        context.emit(versions_view(context), print_versions);
    });

    CLI::App* rotate = platform->add_subcommand(
        "rotate",
        "add a platform key version, re-wrap every platform layer under it, then drop "
        "versions no disk needs");
    auto if_older_than = std::make_shared<std::string>();
    CLI::Option* if_older_than_option =
        rotate
            ->add_option("--if-older-than", *if_older_than,
                         "rotate only if the newest version is at least this old (90d, 12h, 30m, "
                         "3600s); for a daily timer or cron job")
            ->type_name("DURATION");
    rotate->callback([&context, if_older_than, if_older_than_option] {
        std::optional<std::chrono::seconds> max_age;
        // Given but empty is refused, never taken as "always rotate".
        if (if_older_than_option->count() > 0) {
            max_age = parse_max_age(*if_older_than);
        }
        context.emit(rotate_platform_key(context, max_age), print_rotation);
    });
}

}  // namespace hostcrypt::tools
