// hostcrypt instance create|list|show|attach|detach|allocate|deallocate|delete

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "keys/key_ref.hpp"
#include "text.hpp"

namespace hostcrypt::tools {

namespace {

using nlohmann::json;

std::string joined(const json& names) {
    std::string text;
    for (const json& name : names) {
        text += (text.empty() ? "" : ", ") + name.get<std::string>();
    }
    return text.empty() ? "none" : text;
}

std::string text_or(const json& value, const std::string& fallback) {
    return value.is_string() ? value.get<std::string>() : fallback;
}

// The tiers of an instance: one row per cipher layer of each, with the key
// that wraps the layer's DEK and the DEK's id.
void print_tiers(const json& tiers) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> notes;
    for (const json& tier : tiers) {
        const std::string name =
            tier.at("tier").get<std::string>() +
            (tier.contains("disk") ? " " + tier.at("disk").get<std::string>() : "");
        const std::string export_name = text_or(tier.at("export"), "-");
        if (tier.contains("error")) {
            rows.push_back({name, export_name, "-", "-", "-"});
            notes.push_back(name + ": " + tier.at("error").get<std::string>());
            continue;
        }
        if (!tier.contains("layers")) {
            rows.push_back({name, export_name, "-", "-", "-"});
            notes.push_back(name + ": " + tier.value("note", std::string()));
            continue;
        }
        for (const json& layer : tier.at("layers")) {
            rows.push_back({name, export_name, layer.at("layer").get<std::string>(),
                            text_or(layer.at("dek_id"), "-"),
                            keys::to_string(layer.at("wrapped_by").get<keys::KeyRef>())});
        }
        if (!tier.value("served", false)) {
            notes.push_back(name + ": not served now, so no DEK is in memory to name");
        }
    }
    print_table({"TIER", "EXPORT", "LAYER", "DEK ID", "WRAPPED BY"}, rows);
    for (const std::string& note : notes) {
        std::cout << "  " << note << '\n';
    }
}

std::string caches_text(const json& caches) {
    std::string text;
    for (const auto& [disk, cache] : caches.items()) {
        text += fmt::format("{}{} {} {}", text.empty() ? "" : ", ", disk,
                            cache.at("mode").get<std::string>(), format_size(cache.at("size")));
    }
    return text.empty() ? "none" : text;
}

void print_instance(const json& instance) {
    const json& temp = instance.at("temp");
    print_fields({{"instance", instance.at("name")},
                  {"allocated", instance.at("allocated").get<bool>() ? "yes" : "no"},
                  {"created", instance.at("created")},
                  {"temp disk", fmt::format("{}, {}-byte sectors", format_size(temp.at("size")),
                                            temp.at("sector_size").get<std::uint32_t>())},
                  {"disks", joined(instance.at("disks"))},
                  {"host caches", caches_text(instance.value("caches", json::object()))}});
    if (instance.contains("tiers")) {
        std::cout << '\n';
        print_tiers(instance.at("tiers"));
    }
}

// Prints `result` and reports exports the daemon could not serve (exit 8).
void emit_instance(Context& context, const json& result) {
    context.emit(result, print_instance);
    if (result.contains("not_served")) {
        for (const auto& [name, why] : result.at("not_served").items()) {
            std::cerr << fmt::format("hostcrypt: {} is not served: {}\n", name,
                                     why.get<std::string>());
        }
        context.exit_code = exit_incomplete;
    }
}

void add_create(CLI::App& parent, Context& context) {
    struct Arguments {
        std::string name, temp_size;
        std::uint32_t temp_sector_size = 4096;
        std::vector<std::string> disks;
        bool deallocated = false;
    };
    auto arguments = std::make_shared<Arguments>();
    CLI::App* command = parent.add_subcommand(
        "create", "create an instance: its temp disk and the disks attached to it");
    command->add_option("name", arguments->name, "instance name")->required();
    command->add_option("--temp-size", arguments->temp_size, "temp disk size, e.g. 4G")->required();
    command
        ->add_option("--temp-sector-size", arguments->temp_sector_size,
                     "temp disk crypto sector size: 512 or 4096")
        ->capture_default_str();
    command->add_option("--disk", arguments->disks, "attach this disk (repeatable)")
        ->allow_extra_args(false);
    command->add_flag("--deallocated", arguments->deallocated,
                      "create it deallocated: nothing is served until `instance allocate`");
    command->callback([&context, arguments] {
        emit_instance(context, context.call("instance.create",
                                            {{"name", arguments->name},
                                             {"temp_size", parse_size(arguments->temp_size)},
                                             {"temp_sector_size", arguments->temp_sector_size},
                                             {"disks", arguments->disks},
                                             {"allocated", !arguments->deallocated}}));
    });
}

void add_list(CLI::App& parent, Context& context) {
    parent.add_subcommand("list", "list instances")->callback([&context] {
        context.emit(context.call("instance.list"), [](const json& instances) {
            std::vector<std::vector<std::string>> rows;
            for (const json& i : instances) {
                if (i.contains("error")) {
                    rows.push_back({i.at("name"), "?", "?",
                                    "UNREADABLE: " + i.at("error").get<std::string>()});
                    continue;
                }
                rows.push_back({i.at("name"), i.at("allocated").get<bool>() ? "yes" : "no",
                                format_size(i.at("temp").at("size")), joined(i.at("disks"))});
            }
            print_table({"NAME", "ALLOCATED", "TEMP", "DISKS"}, rows);
        });
    });
}

// A subcommand taking only the instance's name.
void add_named(CLI::App& parent, Context& context, const char* name, const char* method,
               const char* help) {
    auto instance = std::make_shared<std::string>();
    CLI::App* command = parent.add_subcommand(name, help);
    command->add_option("name", *instance, "instance name")->required();
    command->callback([&context, instance, method] {
        emit_instance(context, context.call(method, {{"name", *instance}}));
    });
}

// attach and detach: an instance and a disk.
void add_disk_change(CLI::App& parent, Context& context, const char* name, const char* method,
                     const char* help) {
    auto instance = std::make_shared<std::string>();
    auto disk = std::make_shared<std::string>();
    CLI::App* command = parent.add_subcommand(name, help);
    command->add_option("instance", *instance, "instance name")->required();
    command->add_option("disk", *disk, "disk name")->required();
    command->callback([&context, instance, disk, method] {
        emit_instance(context, context.call(method, {{"instance", *instance}, {"disk", *disk}}));
    });
}

void add_attach(CLI::App& parent, Context& context) {
    struct Arguments {
        std::string instance;
        std::string disk;
        std::string cache = "none";
        std::string cache_size;
    };
    auto arguments = std::make_shared<Arguments>();
    CLI::App* command = parent.add_subcommand(
        "attach", "attach a disk: it is served as <instance>/<disk> from now on");
    command->add_option("instance", arguments->instance, "instance name")->required();
    command->add_option("disk", arguments->disk, "disk name")->required();
    command
        ->add_option("--cache", arguments->cache,
                     "host cache: none, read-only (reads cached, writes go through) or "
                     "read-write (writes acknowledged from the cache, written back)")
        ->capture_default_str();
    command->add_option("--cache-size", arguments->cache_size,
                        "host cache size, e.g. 1G (default: 256M or the disk's size if smaller)");
    command->callback([&context, arguments] {
        json params{{"instance", arguments->instance}, {"disk", arguments->disk}};
        if (arguments->cache != "none") {
            params["cache"] = arguments->cache;
        }
        if (!arguments->cache_size.empty()) {
            params["cache"] = arguments->cache;
            params["cache_size"] = parse_size(arguments->cache_size);
        }
        emit_instance(context, context.call("instance.attach", params));
    });
}

void add_delete(CLI::App& parent, Context& context) {
    auto instance = std::make_shared<std::string>();
    CLI::App* command = parent.add_subcommand(
        "delete", "delete an instance: its temp disk is erased, its disks are detached (kept)");
    command->add_option("name", *instance, "instance name")->required();
    command->callback([&context, instance] {
        context.emit(context.call("instance.delete", {{"name", *instance}}), [](const json& r) {
            std::cout << fmt::format("instance {} deleted; disks detached: {}\n",
                                     r.at("name").get<std::string>(), joined(r.at("detached")));
        });
    });
}

}  // namespace

void add_instance_commands(CLI::App& app, Context& context) {
    CLI::App* instances =
        app.add_subcommand("instance", "instances: a VM's disks, temp disk and tiers on this host");
    instances->require_subcommand(1);
    add_create(*instances, context);
    add_list(*instances, context);
    add_named(*instances, context, "show", "instance.show",
              "show an instance and each tier's DEK with the key that wraps it");
    add_attach(*instances, context);
    add_disk_change(*instances, context, "detach", "instance.detach",
                    "detach a disk: it is served under its own name again; its host cache is "
                    "written back and deleted");
    add_named(*instances, context, "allocate", "instance.allocate",
              "allocate: serve the disks and a fresh, empty temp disk");
    add_named(*instances, context, "deallocate", "instance.deallocate",
              "deallocate: stop serving; the temp disk is crypto-erased");
    add_delete(*instances, context);
}

}  // namespace hostcrypt::tools
