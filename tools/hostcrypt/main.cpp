// hostcrypt: the command line for encryption sets, vault keys, disks and the
// platform key, working offline on a state directory (docs/operations.md).

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "context.hpp"
#include "error_report.hpp"
#include "exit_codes.hpp"

#ifndef HOSTCRYPT_VERSION
#define HOSTCRYPT_VERSION "unknown"
#endif

int main(int argc, char** argv) {
    using namespace hostcrypt::tools;
    Context context;
    if (const char* state = std::getenv("HOSTCRYPT_STATE")) {
        context.state_directory = state;
    }
    CLI::App app{"hostcrypt: encryption at host — keys, encryption sets and encrypted disks",
                 "hostcrypt"};
    app.set_version_flag("--version", "hostcrypt " HOSTCRYPT_VERSION);
    app.add_option("--state", context.state_directory,
                   "state directory (default /var/lib/hostcrypt, or $HOSTCRYPT_STATE)");
    app.add_flag("--json", context.json_output, "print results as JSON");
    app.require_subcommand(1);
    add_set_commands(app, context);
    add_vault_commands(app, context);
    add_disk_commands(app, context);
    add_platform_commands(app, context);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int code = app.exit(error);  // prints help, version or the usage error
        return code == 0 ? exit_ok : exit_usage;
    } catch (const std::exception& error) {
        return report_error(error, context);
    }
    return context.exit_code;
}
