// hostcrypt vault key create|list|show|rotate|disable|enable|expire|delete|recover|purge

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

struct KeyArguments {
    std::string vault = "local";
    std::string name;

    json params() const { return {{"vault", vault}, {"name", name}}; }
};

std::string text_or(const json& value, const char* fallback) {
    return value.is_null() ? fallback : value.get<std::string>();
}

void print_key(const json& key) {
    std::vector<std::string> versions;
    for (const json& version : key.at("versions")) {
        versions.push_back(fmt::format("{} ({})", version.at("version").get<std::uint32_t>(),
                                       version.at("created").get<std::string>()));
    }
    print_fields({{"key", fmt::format("{}/{}", key.at("vault").get<std::string>(),
                                      key.at("name").get<std::string>())},
                  {"type", key.at("type")},
                  {"enabled", key.at("enabled").get<bool>() ? "yes" : "no"},
                  {"not before", text_or(key.at("not_before"), "-")},
                  {"expires", text_or(key.at("expires"), "never")},
                  {"deleted", text_or(key.at("deleted"), "no")},
                  {"retention", fmt::format("{} days", key.at("retention_days").get<int>())},
                  {"purge protection", key.at("purge_protection").get<bool>() ? "on" : "off"},
                  {"versions", fmt::format("{}", fmt::join(versions, ", "))}});
}

CLI::App* add_key_command(CLI::App& key, const std::string& verb, const std::string& description,
                          KeyArguments& arguments) {
    CLI::App* command = key.add_subcommand(verb, description);
    command->add_option("name", arguments.name, "key name")->required();
    command->add_option("--vault", arguments.vault, "vault name")->capture_default_str();
    return command;
}

// Registers `verb`, which takes a vault and key name, calls vault.key.<verb>
// and prints the key that results.
void add_key_verb(CLI::App& key, Context& context, const std::string& verb,
                  const std::string& description) {
    auto arguments = std::make_shared<KeyArguments>();
    add_key_command(key, verb, description, *arguments)->callback([&context, arguments, verb] {
        context.emit(context.call("vault.key." + verb, arguments->params()), print_key);
    });
}

void add_create(CLI::App& key, Context& context) {
    struct Arguments : KeyArguments {
        std::string type = "rsa-3072";
        std::uint32_t retention_days = 90;
        bool no_purge_protection = false;
        std::string not_before = "none";
        std::string expires = "never";
    };
    auto arguments = std::make_shared<Arguments>();
    CLI::App* command = key.add_subcommand("create", "create a key-encryption key");
    command->add_option("name", arguments->name, "key name")->required();
    command->add_option("--vault", arguments->vault, "vault (created if absent)")
        ->capture_default_str();
    command->add_option("--type", arguments->type, "rsa-2048, rsa-3072, rsa-4096 or aes-256")
        ->capture_default_str();
    command
        ->add_option("--retention-days", arguments->retention_days,
                     "days a deleted key stays recoverable (7-90)")
        ->capture_default_str();
    command->add_flag("--no-purge-protection", arguments->no_purge_protection,
                      "allow purging a deleted key before its retention ends");
    command->add_option("--not-before", arguments->not_before, "UTC time the key becomes valid");
    command->add_option("--expires", arguments->expires, "UTC time the key expires");
    command->callback([&context, arguments] {
        json params = arguments->params();
        params["type"] = arguments->type;
        params["retention_days"] = arguments->retention_days;
        params["purge_protection"] = !arguments->no_purge_protection;
        params["not_before"] = parse_optional_time(arguments->not_before);
        params["expires"] = parse_optional_time(arguments->expires);
        context.emit(context.call("vault.key.create", params), print_key);
    });
}

void add_list(CLI::App& key, Context& context) {
    auto vault_name = std::make_shared<std::string>("local");
    auto include_deleted = std::make_shared<bool>(false);
    CLI::App* command = key.add_subcommand("list", "list the keys of a vault");
    command->add_option("--vault", *vault_name, "vault name")->capture_default_str();
    command->add_flag("--include-deleted", *include_deleted, "also list soft-deleted keys");
    command->callback([&context, vault_name, include_deleted] {
        const json list = context.call(
            "vault.key.list", {{"vault", *vault_name}, {"include_deleted", *include_deleted}});
        context.emit(list, [](const json& keys_view) {
            std::vector<std::vector<std::string>> rows;
            for (const json& k : keys_view) {
                const std::string state = !k.at("deleted").is_null()    ? "deleted"
                                          : k.at("enabled").get<bool>() ? "enabled"
                                                                        : "disabled";
                rows.push_back({k.at("name"), k.at("type"), state,
                                std::to_string(k.at("latest_version").get<std::uint32_t>()),
                                text_or(k.at("expires"), "never")});
            }
            print_table({"NAME", "TYPE", "STATE", "LATEST", "EXPIRES"}, rows);
        });
    });
}

void add_rotate(CLI::App& key, Context& context) {
    auto arguments = std::make_shared<KeyArguments>();
    add_key_command(key, "rotate",
                    "add a new key version and re-wrap the disks of sets that follow the latest",
                    *arguments)
        ->callback([&context, arguments] {
            const json result = context.call("vault.key.rotate", arguments->params());
            context.emit(result, [](const json& r) {
                std::cout << fmt::format("key {}/{} is now at version {}\n",
                                         r.at("key").at("vault").get<std::string>(),
                                         r.at("key").at("name").get<std::string>(),
                                         r.at("key").at("latest_version").get<std::uint32_t>());
                print_rewrap(r.at("rewrapped"));
            });
            if (any_failed(result.at("rewrapped"))) {
                context.exit_code = exit_incomplete;
            }
        });
}

void add_expire(CLI::App& key, Context& context) {
    struct Arguments : KeyArguments {
        std::string not_before = "none";
        std::string expires = "never";
    };
    auto arguments = std::make_shared<Arguments>();
    CLI::App* command = add_key_command(
        key, "expire", "set when a key is valid (omitted bounds are cleared)", *arguments);
    command->add_option("--expires", arguments->expires, "UTC time, or 'never'");
    command->add_option("--not-before", arguments->not_before, "UTC time, or 'none'");
    command->callback([&context, arguments] {
        json params = arguments->params();
        params["not_before"] = parse_optional_time(arguments->not_before);
        params["expires"] = parse_optional_time(arguments->expires);
        context.emit(context.call("vault.key.expire", params), print_key);
    });
}

void add_purge(CLI::App& key, Context& context) {
    auto arguments = std::make_shared<KeyArguments>();
    add_key_command(key, "purge", "destroy a soft-deleted key for good (no recovery)", *arguments)
        ->callback([&context, arguments] {
            context.emit(context.call("vault.key.purge", arguments->params()), [](const json& r) {
                std::cout << fmt::format("key {}/{} purged\n", r.at("vault").get<std::string>(),
                                         r.at("name").get<std::string>());
            });
        });
}

}  // namespace

void add_vault_commands(CLI::App& app, Context& context) {
    CLI::App* vault = app.add_subcommand("vault", "customer-managed keys in key vaults");
    vault->require_subcommand(1);
    CLI::App* key = vault->add_subcommand("key", "key-encryption keys");
    key->require_subcommand(1);
    add_create(*key, context);
    add_list(*key, context);
    add_key_verb(*key, context, "show", "show a key and its versions");
    add_rotate(*key, context);
    add_key_verb(*key, context, "disable",
                 "disable a key: disks under it stop serving after the grace period");
    add_key_verb(*key, context, "enable", "enable a disabled key");
    add_expire(*key, context);
    add_key_verb(*key, context, "delete", "soft-delete a key (recoverable during retention)");
    add_key_verb(*key, context, "recover", "recover a soft-deleted key");
    add_purge(*key, context);
}

}  // namespace hostcrypt::tools
