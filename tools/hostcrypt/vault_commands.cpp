// hostcrypt vault key create|list|show|rotate|disable|enable|expire|delete|recover|purge

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "commands.hpp"
#include "disk/rotation.hpp"
#include "exit_codes.hpp"
#include "text.hpp"
#include "views.hpp"

namespace hostcrypt::tools {

namespace {

using nlohmann::json;

struct KeyArguments {
    std::string vault = "local";
    std::string name;
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

// Registers `verb` that takes a vault and key name, runs `action` on them and
// prints the key that results.
using KeyAction = std::function<keys::KeyInfo(keys::KeyVault&, const std::string&)>;
void add_key_verb(CLI::App& key, Context& context, const std::string& verb,
                  const std::string& description, KeyAction action) {
    auto arguments = std::make_shared<KeyArguments>();
    CLI::App* command = key.add_subcommand(verb, description);
    command->add_option("name", arguments->name, "key name")->required();
    command->add_option("--vault", arguments->vault, "vault name")->capture_default_str();
    command->callback([&context, arguments, action] {
        keys::KeyVault& vault = context.providers().vault(arguments->vault);
        const json view = key_view(vault.vault_name(), action(vault, arguments->name));
        context.emit(view, print_key);
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
        keys::CreateKeyOptions options;
        options.type = keys::parse_key_type(arguments->type);
        options.retention_days = arguments->retention_days;
        options.purge_protection = !arguments->no_purge_protection;
        options.not_before = parse_optional_time(arguments->not_before);
        options.expires = parse_optional_time(arguments->expires);
        keys::KeyVault& vault = context.providers().open_or_create_vault(arguments->vault);
        context.emit(key_view(vault.vault_name(), vault.create_key(arguments->name, options)),
                     print_key);
    });
}

void add_list(CLI::App& key, Context& context) {
    auto vault_name = std::make_shared<std::string>("local");
    auto include_deleted = std::make_shared<bool>(false);
    CLI::App* command = key.add_subcommand("list", "list the keys of a vault");
    command->add_option("--vault", *vault_name, "vault name")->capture_default_str();
    command->add_flag("--include-deleted", *include_deleted, "also list soft-deleted keys");
    command->callback([&context, vault_name, include_deleted] {
        keys::KeyVault& vault = context.providers().vault(*vault_name);
        json list = json::array();
        for (const keys::KeyInfo& info : vault.list_keys(*include_deleted)) {
            list.push_back(key_view(vault.vault_name(), info));
        }
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
    CLI::App* command = key.add_subcommand(
        "rotate", "add a new key version and re-wrap the disks of sets that follow the latest");
    command->add_option("name", arguments->name, "key name")->required();
    command->add_option("--vault", arguments->vault, "vault name")->capture_default_str();
    command->callback([&context, arguments] {
        keys::KeyVault& vault = context.providers().vault(arguments->vault);
        const keys::KeyInfo info = vault.rotate_key(arguments->name);
        disk::Rotation rotation(context.catalog(), context.sets(), context.providers());
        const json result{
            {"key", key_view(vault.vault_name(), info)},
            {"rewrapped", rewrap_view(rotation.rewrap_following(vault.vault_name(), info.name))}};
        context.emit(result, [](const json& r) {
            std::cout << fmt::format("key {}/{} is now at version {}\n",
                                     r.at("key").at("vault").get<std::string>(),
                                     r.at("key").at("name").get<std::string>(),
                                     r.at("key").at("latest_version").get<std::uint32_t>());
            print_rewrap(r.at("rewrapped"));
        });
        for (const json& outcome : result.at("rewrapped")) {
            if (outcome.contains("error")) {
                context.exit_code = exit_incomplete;
            }
        }
    });
}

void add_expire(CLI::App& key, Context& context) {
    struct Arguments : KeyArguments {
        std::string not_before = "none";
        std::string expires = "never";
    };
    auto arguments = std::make_shared<Arguments>();
    CLI::App* command =
        key.add_subcommand("expire", "set when a key is valid (omitted bounds are cleared)");
    command->add_option("name", arguments->name, "key name")->required();
    command->add_option("--vault", arguments->vault, "vault name")->capture_default_str();
    command->add_option("--expires", arguments->expires, "UTC time, or 'never'");
    command->add_option("--not-before", arguments->not_before, "UTC time, or 'none'");
    command->callback([&context, arguments] {
        keys::KeyVault& vault = context.providers().vault(arguments->vault);
        const keys::KeyInfo info =
            vault.set_validity(arguments->name, parse_optional_time(arguments->not_before),
                               parse_optional_time(arguments->expires));
        context.emit(key_view(vault.vault_name(), info), print_key);
    });
}

void add_purge(CLI::App& key, Context& context) {
    auto arguments = std::make_shared<KeyArguments>();
    CLI::App* command =
        key.add_subcommand("purge", "destroy a soft-deleted key for good (no recovery)");
    command->add_option("name", arguments->name, "key name")->required();
    command->add_option("--vault", arguments->vault, "vault name")->capture_default_str();
    command->callback([&context, arguments] {
        context.providers().vault(arguments->vault).purge(arguments->name);
        context.emit(json{{"vault", arguments->vault}, {"name", arguments->name}, {"purged", true}},
                     [](const json& r) {
                         std::cout
                             << fmt::format("key {}/{} purged\n", r.at("vault").get<std::string>(),
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
    add_key_verb(*key, context, "show", "show a key and its versions",
                 [](keys::KeyVault& v, const std::string& n) { return v.describe_key(n); });
    add_rotate(*key, context);
    add_key_verb(*key, context, "disable", "disable a key: disks under it stop opening",
                 [](keys::KeyVault& v, const std::string& n) { return v.set_enabled(n, false); });
    add_key_verb(*key, context, "enable", "enable a disabled key",
                 [](keys::KeyVault& v, const std::string& n) { return v.set_enabled(n, true); });
    add_expire(*key, context);
    add_key_verb(*key, context, "delete", "soft-delete a key (recoverable during retention)",
                 [](keys::KeyVault& v, const std::string& n) { return v.soft_delete(n); });
    add_key_verb(*key, context, "recover", "recover a soft-deleted key",
                 [](keys::KeyVault& v, const std::string& n) { return v.recover(n); });
    add_purge(*key, context);
}

}  // namespace hostcrypt::tools
