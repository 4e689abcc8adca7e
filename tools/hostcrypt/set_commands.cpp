// hostcrypt set create|list|show|rotate|delete

#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "text.hpp"

namespace hostcrypt::tools {

namespace {

using nlohmann::json;

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
    CLI::Option* key_version = command
                                   ->add_option("--key-version", arguments->key_version,
                                                "a version number, or 'latest' to follow rotations")
                                   ->capture_default_str();
    command->callback([&context, arguments, key_version] {
        json params{{"name", arguments->name}, {"type", arguments->type}};
        if (key_version->count() > 0) {
            params["key_version"] = arguments->key_version;
        }
        if (!arguments->vault.empty()) {
            params["vault"] = arguments->vault;
        }
        if (!arguments->key.empty()) {
            params["key"] = arguments->key;
        }
        context.emit(context.call("set.create", params), print_set);
    });
}

void add_list(CLI::App& parent, Context& context) {
    parent.add_subcommand("list", "list encryption sets")->callback([&context] {
        context.emit(context.call("set.list"), [](const json& sets) {
            std::vector<std::vector<std::string>> rows;
            for (const json& set : sets) {
                rows.push_back({set.at("name"), set.at("type"), set_key_text(set),
                                std::to_string(set.at("disks").size())});
            }
            print_table({"NAME", "TYPE", "KEY", "DISKS"}, rows);
        });
    });
}

// Registers `verb`, which takes a set name and calls set.<verb>.
CLI::App* add_named(CLI::App& parent, const std::string& verb, const std::string& description,
                    std::shared_ptr<std::string> name) {
    CLI::App* command = parent.add_subcommand(verb, description);
    command->add_option("name", *name, "set name")->required();
    return command;
}

void add_show(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    add_named(parent, "show", "show an encryption set and its disks", name)
        ->callback([&context, name] {
            context.emit(context.call("set.show", {{"name", *name}}), print_set);
        });
}

void add_rotate(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    add_named(parent, "rotate",
              "re-wrap every disk of the set under the key version the set names now", name)
        ->callback([&context, name] {
            const json result = context.call("set.rotate", {{"name", *name}});
            context.emit(result, [](const json& r) { print_rewrap(r); });
            if (any_failed(result)) {
                context.exit_code = exit_incomplete;
            }
        });
}

void add_delete(CLI::App& parent, Context& context) {
    auto name = std::make_shared<std::string>();
    add_named(parent, "delete", "delete an encryption set with no disks", name)
        ->callback([&context, name] {
            context.emit(context.call("set.delete", {{"name", *name}}), [](const json& r) {
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
