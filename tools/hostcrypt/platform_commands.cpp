// hostcrypt platform rotate|show

#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
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

}  // namespace

void add_platform_commands(CLI::App& app, Context& context) {
    CLI::App* platform = app.add_subcommand("platform", "the platform key");
    platform->require_subcommand(1);

    platform->add_subcommand("show", "list the platform key versions")->callback([&context] {
        context.emit(versions_view(context), print_versions);
    });

    platform
        ->add_subcommand("rotate",
                         "add a platform key version, re-wrap every platform layer under it, "
                         "then drop versions no disk needs")
        ->callback([&context] {
            keys::PlatformKeyStore& store = context.providers().platform();
            const keys::KeyVersionInfo added = store.rotate();
            disk::Rotation rotation(context.catalog(), context.sets(), context.providers());
            const json rewrapped = rewrap_view(rotation.rewrap_platform_layers());
            bool complete = true;
            for (const json& outcome : rewrapped) {
                complete = complete && !outcome.contains("error");
            }
            // Old versions go only once every disk is off them; else rerun to resume.
            std::vector<std::uint32_t> removed;
            if (complete) {
                removed = store.prune(rotation.platform_versions_in_use());
            } else {
                context.exit_code = exit_incomplete;
            }
            const json result{{"version", added.version},
                              {"rewrapped", rewrapped},
                              {"removed_versions", removed}};
            context.emit(result, [](const json& r) {
                std::cout << fmt::format("platform key is now at version {}\n",
                                         r.at("version").get<std::uint32_t>());
                print_rewrap(r.at("rewrapped"));
                if (!r.at("removed_versions").empty()) {
                    const auto removed_versions =
                        r.at("removed_versions").get<std::vector<std::uint32_t>>();
                    std::cout << fmt::format("removed unused versions: {}\n",
                                             fmt::join(removed_versions, ", "));
                }
            });
        });
}

}  // namespace hostcrypt::tools
