#pragma once

// Each command group registers its subcommands on the application. Every
// command validates its arguments, makes its control call through
// Context::call and prints the result through Context::emit.

#include <CLI/CLI.hpp>

#include "context.hpp"

namespace hostcrypt::tools {

void add_vault_commands(CLI::App& app, Context& context);
void add_set_commands(CLI::App& app, Context& context);
void add_disk_commands(CLI::App& app, Context& context);
void add_instance_commands(CLI::App& app, Context& context);
void add_platform_commands(CLI::App& app, Context& context);
void add_status_commands(CLI::App& app, Context& context);
void add_drill_command(CLI::App& app, Context& context);

}  // namespace hostcrypt::tools
