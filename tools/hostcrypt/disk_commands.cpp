// hostcrypt disk create|list|show|delete|check

#include <filesystem>
#include <iostream>
#include <memory>
#include <unistd.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "disk/disk.hpp"
#include "disk/disk_error.hpp"
#include "disk/header_slots.hpp"
#include "exit_codes.hpp"
#include "storage/file_storage.hpp"
#include "text.hpp"
#include "views.hpp"

namespace hostcrypt::tools {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using storage::FileStorage;

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

json disk_view(const disk::CatalogEntry& entry, const disk::DiskHeader& header) {
    json view = header_view(header);
    view["name"] = entry.name;
    view["path"] = entry.path.string();
    return view;
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

disk::DiskHeader read_header(const disk::CatalogEntry& entry) {
    const auto storage = FileStorage::open(entry.path, FileStorage::Mode::read_only);
    return disk::read_newest_header(*storage, entry.name);
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
        const keys::EncryptionSet set = context.sets().get(arguments->set);
        disk::DiskCatalog& catalog = context.catalog();
        const fs::path path = arguments->path.empty()
                                  ? catalog.default_backing_path(arguments->name)
                                  : fs::path(arguments->path);
        const bool taken = [&] {
            try {
                catalog.get(arguments->name);
                return true;
            } catch (const disk::DiskError& error) {
                if (error.code() != disk::DiskErrc::not_found) {
                    throw;
                }
                return false;
            }
        }();
        if (taken) {
            throw disk::DiskError(disk::DiskErrc::already_exists,
                                  fmt::format("disk {} already exists", arguments->name));
        }
        disk::CreateDiskOptions options;
        options.size = parse_size(arguments->size);
        options.sector_size = arguments->sector_size;
        options.preallocate = arguments->preallocate;
        options.progress = progress_bar();
        const disk::DiskHeader header =
            disk::Disk::create(path, arguments->name, options, set, context.providers());
        const disk::CatalogEntry entry{arguments->name, fs::absolute(path), set.name, system_now()};
        try {
            catalog.add(entry);
        } catch (...) {
            fs::remove(path);
            throw;
        }
        context.emit(disk_view(entry, header), print_disk);
    });
}

void add_list(CLI::App& parent, Context& context) {
    parent.add_subcommand("list", "list disks")->callback([&context] {
        json list = json::array();
        for (const disk::CatalogEntry& entry : context.catalog().list()) {
            try {
                list.push_back(disk_view(entry, read_header(entry)));
            } catch (const Error& error) {
                list.push_back({{"name", entry.name},
                                {"path", entry.path.string()},
                                {"set", entry.set},
                                {"error", error.what()}});
            }
        }
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
        const disk::CatalogEntry entry = context.catalog().get(*name);
        const disk::DiskHeader header = read_header(entry);
        json view = disk_view(entry, header);
        view["health"] = health_view(disk::disk_key_health(header, context.providers()));
        context.emit(view, print_disk);
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
        const disk::CatalogEntry entry = context.catalog().get(*name);
        if (!*keep && fs::exists(entry.path)) {
            // Zero both header slots before anything else: without its wrapped
            // DEKs the ciphertext is unreadable (crypto-erase), also on block
            // devices, which are not removed.
            const auto storage = FileStorage::open(entry.path, FileStorage::Mode::read_write);
            const std::vector<std::byte> zeros(2 * disk::header_slot_size);
            storage->write_at(zeros, 0);
            storage->sync();
            if (fs::is_regular_file(entry.path)) {
                fs::remove(entry.path);
            }
        }
        context.catalog().remove(*name);
        context.emit(json{{"name", *name}, {"deleted", true}, {"backing_kept", *keep}},
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
        const disk::CatalogEntry entry = context.catalog().get(*name);
        json problems = json::array();
        json slots = json::array();
        auto storage = FileStorage::open(entry.path, FileStorage::Mode::read_only);
        for (const disk::SlotStatus& slot : disk::inspect_header_slots(*storage, entry.name)) {
            slots.push_back(slot.valid ? json{{"valid", true}, {"sequence", slot.sequence}}
                                       : json{{"valid", false}, {"problem", slot.problem}});
            if (!slot.valid) {
                problems.push_back("header copy damaged: " + slot.problem);
            }
        }
        try {
            const disk::Disk disk =
                disk::Disk::open(std::move(storage), entry.name, context.providers());
        } catch (const Error& error) {
            problems.push_back(error.what());
        }
        const json result{{"disk", entry.name},
                          {"header_copies", slots},
                          {"problems", problems},
                          {"ok", problems.empty()}};
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
        if (!problems.empty()) {
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
