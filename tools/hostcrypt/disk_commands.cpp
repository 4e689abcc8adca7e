// hostcrypt disk create|list|show|delete|check

#include <filesystem>
#include <iostream>
#include <memory>
#include <unistd.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "text.hpp"

namespace hostcrypt::tools {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// "[#########           ]  45%  450 MiB of 1 GiB" on a terminal, nothing otherwise.
std::function<void(std::uint64_t, std::uint64_t)> progress_bar() {
    if (::isatty(STDERR_FILENO) == 0) {
        return {};
    }
    return [last = -1](std::uint64_t done, std::uint64_t total) mutable {
        const int percent = static_cast<int>(done * 100 / total);
        if (percent == last) {
            return;
        }
        last = percent;
        const int filled = percent / 5;
        std::cerr << fmt::format("\r[{:#<{}}{: <{}}] {:3}%  {} of {}", "", filled, "", 20 - filled,
                                 percent, format_size(done), format_size(total))
                  << (done == total ? "\n" : "") << std::flush;
    };
}

void print_disk(const json& disk) {
    std::vector<std::pair<std::string, std::string>> fields{
        {"disk", disk.at("name")},
        {"path", disk.at("path")},
        {"uuid", disk.at("uuid")},
        {"size", fmt::format("{} ({} bytes)", format_size(disk.at("size")),
                             disk.at("size").get<std::uint64_t>())},
        {"sector size", std::to_string(disk.at("sector_size").get<std::uint32_t>())},
        {"set", fmt::format("{} ({})", disk.at("set").get<std::string>(),
                            disk.at("type").get<std::string>())}};
    for (std::size_t i = 0; i < disk.at("layers").size(); ++i) {
        const json& layer = disk.at("layers")[i];
        std::string line =
            fmt::format("{}, DEK wrapped by {}", layer.at("cipher").get<std::string>(),
                        keys::to_string(layer.at("kek").get<keys::KeyRef>()));
        if (disk.contains("health")) {
            const json& health = disk.at("health").at("layers")[i];
            line += fmt::format(" [{}{}]", health.at("state").get<std::string>(),
                                health.at("reason").get<std::string>().empty()
                                    ? ""
                                    : ": " + health.at("reason").get<std::string>());
        }
        fields.emplace_back(fmt::format("layer ({})", layer.at("layer").get<std::string>()), line);
    }
    fields.emplace_back("created", disk.at("created"));
    fields.emplace_back(
        "rotated", disk.at("rotated").is_null() ? "never" : disk.at("rotated").get<std::string>());
    print_fields(fields);
}

void add_create(CLI::App& parent, Context& context) {
    struct Arguments {
        std::string name, set, size, path;
        std::uint32_t sector_size = 4096;
        bool preallocate = false;
    };
    auto arguments = std::make_shared<Arguments>();
    CLI::App* command = parent.add_subcommand("create", "create an encrypted disk");
    command->add_option("name", arguments->name, "disk name")->required();
    command->add_option("--set", arguments->set, "encryption set")->required();
    command->add_option("--size", arguments->size, "size, e.g. 10G (binary units)")->required();
    command->add_option("--sector-size", arguments->sector_size, "crypto sector size: 512 or 4096")
        ->capture_default_str();
    command->add_option("--path", arguments->path,
                        "backing file or block device (default: in the state directory)");
    command->add_flag("--preallocate", arguments->preallocate,
                      "write every sector now instead of creating a sparse file");
    command->callback([&context, arguments] {
        json params{{"name", arguments->name},
                    {"set", arguments->set},
                    {"size", parse_size(arguments->size)},
                    {"sector_size", arguments->sector_size},
                    {"preallocate", arguments->preallocate}};
        if (!arguments->path.empty()) {
            // The daemon resolves paths from its own working directory.
            params["path"] = fs::absolute(arguments->path).string();
        }
        const json disk = context.call("disk.create", params, progress_bar());
        context.emit(disk, print_disk);
        if (disk.contains("not_served_because")) {
            std::cerr << fmt::format("hostcrypt: disk {} was created but is not served: {}\n",
                                     arguments->name,
                                     disk.at("not_served_because").get<std::string>());
            context.exit_code = exit_incomplete;
        }
    });
}

void add_list(CLI::App& parent, Context& context) {
    parent.add_subcommand("list", "list disks")->callback([&context] {
        const json list = context.call("disk.list");
        context.emit(list, [](const json& disks) {
            std::vector<std::vector<std::string>> rows;
            for (const json& d : disks) {
                if (d.contains("error")) {
                    rows.push_back({d.at("name"), d.at("set"), "?", "?", "?",
                                    "UNREADABLE: " + d.at("error").get<std::string>()});
                    continue;
                }
                rows.push_back({d.at("name"), d.at("set"), d.at("type"), format_size(d.at("size")),
                                std::to_string(d.at("sector_size").get<std::uint32_t>()),
                                d.at("path")});
            }
            print_table({"NAME", "SET", "TYPE", "SIZE", "SECTOR", "PATH"}, rows);
        });
    });
}

void add_show(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    CLI::App* command = parent.add_subcommand("show", "show a disk, its keys and their health");
    command->add_option("name", *name, "disk name")->required();
    command->callback([&context, name] {
        context.emit(context.call("disk.show", {{"name", *name}}), print_disk);
    });
}

void add_delete(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    auto keep = std::make_shared<bool>(false);
    CLI::App* command = parent.add_subcommand(
        "delete", "delete a disk: its header (and so its wrapped keys) is erased first");
    command->add_option("name", *name, "disk name")->required();
    command->add_flag("--keep-backing", *keep,
                      "only forget the disk; leave its backing store untouched");
    command->callback([&context, name, keep] {
        context.emit(context.call("disk.delete", {{"name", *name}, {"keep_backing", *keep}}),
                     [](const json& r) {
                         std::cout << fmt::format(
                             "disk {} deleted{}\n", r.at("name").get<std::string>(),
                             r.at("backing_kept").get<bool>() ? " (backing store kept)" : "");
                     });
    });
}

void add_check(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    CLI::App* command = parent.add_subcommand(
        "check", "check both header copies, the backing size and that every key unwraps");
    command->add_option("name", *name, "disk name")->required();
    command->callback([&context, name] {
        const json result = context.call("disk.check", {{"name", *name}});
        context.emit(result, [](const json& r) {
            for (std::size_t i = 0; i < r.at("header_copies").size(); ++i) {
                const json& slot = r.at("header_copies")[i];
                std::cout << fmt::format("header copy {}: {}\n", i,
                                         slot.at("valid").get<bool>()
                                             ? fmt::format("valid, sequence {}",
                                                           slot.at("sequence").get<std::uint64_t>())
                                             : "DAMAGED: " + slot.at("problem").get<std::string>());
            }
            for (const json& problem : r.at("problems")) {
                std::cout << "problem: " << problem.get<std::string>() << '\n';
            }
            std::cout << fmt::format("disk {}: {}\n", r.at("disk").get<std::string>(),
                                     r.at("ok").get<bool>() ? "ok" : "NOT OK");
        });
        if (!result.at("ok").get<bool>()) {
            context.exit_code = exit_incomplete;
        }
    });
}

}  // namespace

void add_disk_commands(CLI::App& app, Context& context) {
    CLI::App* disks = app.add_subcommand("disk", "encrypted disks");
    disks->require_subcommand(1);
    add_create(*disks, context);
    add_list(*disks, context);
    add_show(*disks, context);
    add_delete(*disks, context);
    add_check(*disks, context);
}

}  // namespace hostcrypt::tools
