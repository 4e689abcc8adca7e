#pragma once

// Each command group registers its subcommands on the application. Every
// command validates its arguments, does its work through lib/, and prints
// one result through Context::emit.

#include <CLI/CLI.hpp>

#include "context.hpp"

namespace hostcrypt::tools {

void add_vault_commands(CLI::App& app, Context& context);
void add_set_commands(CLI::App& app, Context& context);
void add_disk_commands(CLI::App& app, Context& context);
void add_platform_commands(CLI::App& app, Context& context);

}  // namespace hostcrypt::tools
