// hostcrypt platform rotate [--if-older-than DURATION] | show

#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "common/duration.hpp"
#include "exit_codes.hpp"
#include "text.hpp"

namespace hostcrypt::tools {

namespace {

using nlohmann::json;

void print_versions(const json& versions) {
    std::vector<std::vector<std::string>> rows;
    for (const json& v : versions) {
        rows.push_back({std::to_string(v.at("version").get<std::uint32_t>()), v.at("created"),
                        v.at("in_use").get<bool>() ? "yes" : "no"});
    }
    print_table({"VERSION", "CREATED", "WRAPS DISKS"}, rows);
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
        context.emit(context.call("platform.show"), print_versions);
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
        json params = json::object();
        // Given but empty is refused, never taken as "always rotate".
        if (if_older_than_option->count() > 0) {
            try {
                params["if_older_than"] = format_duration(parse_duration(*if_older_than));
            } catch (const Error& error) {
                throw UsageError(fmt::format("--if-older-than: {}", error.what()));
            }
        }
        const json result = context.call("platform.rotate", params);
        context.emit(result, print_rotation);
        if (any_failed(result.at("rewrapped"))) {
            context.exit_code = exit_incomplete;
        }
    });
}

}  // namespace hostcrypt::tools
