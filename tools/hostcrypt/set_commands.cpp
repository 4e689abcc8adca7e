// hostcrypt set create|list|show|rotate|delete

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "commands.hpp"
#include "disk/rotation.hpp"
#include "exit_codes.hpp"
#include "keys/keys_error.hpp"
#include "text.hpp"
#include "views.hpp"

namespace hostcrypt::tools {

namespace {

using nlohmann::json;

std::vector<std::string> disks_in_set(Context& context, const std::string& set) {
    std::vector<std::string> names;
    for (const disk::CatalogEntry& entry : context.catalog().list()) {
        if (entry.set == set) {
            names.push_back(entry.name);
        }
    }
    return names;
}

void print_set(const json& set) {
    std::vector<std::pair<std::string, std::string>> fields{{"set", set.at("name")},
                                                            {"type", set.at("type")},
                                                            {"key", set_key_text(set)},
                                                            {"created", set.at("created")}};
    if (set.contains("disks")) {
        const auto disks = set.at("disks").get<std::vector<std::string>>();
        fields.emplace_back("disks",
                            disks.empty() ? "none" : fmt::format("{}", fmt::join(disks, ", ")));
    }
    print_fields(fields);
}

void add_create(CLI::App& parent, Context& context) {
    struct Arguments {
        std::string name, type, vault, key, key_version = "latest";
    };
    auto arguments = std::make_shared<Arguments>();
    CLI::App* command = parent.add_subcommand("create", "create an encryption set");
    command->add_option("name", arguments->name, "set name")->required();
    command->add_option("--type", arguments->type, "platform, customer or double")->required();
    command->add_option("--vault", arguments->vault, "vault of the customer key");
    command->add_option("--key", arguments->key, "customer key name");
    command
        ->add_option("--key-version", arguments->key_version,
                     "a version number, or 'latest' to follow rotations")
        ->capture_default_str();
    command->callback([&context, arguments] {
        keys::EncryptionSet set;
        set.name = arguments->name;
        set.type = keys::parse_encryption_type(arguments->type);
        set.created = system_now();
        if (set.type != keys::EncryptionType::platform) {
            set.vault = arguments->vault.empty() ? "local" : arguments->vault;
            set.key_name = arguments->key;
            if (arguments->key_version != "latest") {
                set.key_version = static_cast<std::uint32_t>(std::stoul(arguments->key_version));
            }
            if (!set.key_name.empty()) {
                // Refuse a set whose key does not exist: no disk could be created in it.
                context.providers().vault(set.vault).describe_key(set.key_name);
            }
        } else if (!arguments->vault.empty() || !arguments->key.empty()) {
            set.vault = arguments->vault;
            set.key_name = arguments->key;  // SetStore::create explains the mistake
        }
        context.sets().create(set);
        context.emit(set_view(set), print_set);
    });
}

void add_list(CLI::App& parent, Context& context) {
    CLI::App* command = parent.add_subcommand("list", "list encryption sets");
    command->callback([&context] {
        json list = json::array();
        for (const keys::EncryptionSet& set : context.sets().list()) {
            json view = set_view(set);
            view["disks"] = disks_in_set(context, set.name);
            list.push_back(view);
        }
        context.emit(list, [](const json& sets) {
            std::vector<std::vector<std::string>> rows;
            for (const json& set : sets) {
                rows.push_back({set.at("name"), set.at("type"), set_key_text(set),
                                std::to_string(set.at("disks").size())});
            }
            print_table({"NAME", "TYPE", "KEY", "DISKS"}, rows);
        });
    });
}

void add_show(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    CLI::App* command = parent.add_subcommand("show", "show an encryption set and its disks");
    command->add_option("name", *name, "set name")->required();
    command->callback([&context, name] {
        json view = set_view(context.sets().get(*name));
        view["disks"] = disks_in_set(context, *name);
        context.emit(view, print_set);
    });
}

void add_rotate(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    CLI::App* command = parent.add_subcommand(
        "rotate", "re-wrap every disk of the set under the key version the set names now");
    command->add_option("name", *name, "set name")->required();
    command->callback([&context, name] {
        disk::Rotation rotation(context.catalog(), context.sets(), context.providers());
        const json result = rewrap_view(rotation.rewrap_set(*name));
        context.emit(result, [](const json& r) { print_rewrap(r); });
        for (const json& outcome : result) {
            if (outcome.contains("error")) {
                context.exit_code = exit_incomplete;
            }
        }
    });
}

void add_delete(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    CLI::App* command = parent.add_subcommand("delete", "delete an encryption set with no disks");
    command->add_option("name", *name, "set name")->required();
    command->callback([&context, name] {
        context.sets().get(*name);
        const std::vector<std::string> disks = disks_in_set(context, *name);
        if (!disks.empty()) {
            throw keys::KeysError(keys::KeysErrc::refused,
                                  fmt::format("encryption set {} still has disks ({}); delete "
                                              "them first",
                                              *name, fmt::join(disks, ", ")));
        }
        context.sets().remove(*name);
        context.emit(json{{"name", *name}, {"deleted", true}}, [](const json& r) {
            std::cout << fmt::format("encryption set {} deleted\n",
                                     r.at("name").get<std::string>());
        });
    });
}

}  // namespace

void add_set_commands(CLI::App& app, Context& context) {
    CLI::App* sets = app.add_subcommand("set", "encryption sets");
    sets->require_subcommand(1);
    add_create(*sets, context);
    add_list(*sets, context);
    add_show(*sets, context);
    add_rotate(*sets, context);
    add_delete(*sets, context);
}

}  // namespace hostcrypt::tools
