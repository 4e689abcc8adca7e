// hostcrypt: the command line for encryption sets, vault keys, disks, the
// platform key and the daemon's status. Each command is one control call
// (lib/control), made in hostcryptd when it runs and offline on the state
// directory when it does not (docs/operations.md).

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
        context.state_given = true;
    }
    if (const char* control = std::getenv("HOSTCRYPT_CONTROL")) {
        context.control_socket = control;
    }
    CLI::App app{"hostcrypt: encryption at host — keys, encryption sets and encrypted disks",
                 "hostcrypt"};
    app.set_version_flag("--version", "hostcrypt " HOSTCRYPT_VERSION);
    app.add_option_function<std::string>(
        "--state",
        [&context](const std::string& directory) {
            context.state_directory = directory;
            context.state_given = true;
        },
        "state directory (default /var/lib/hostcrypt, or $HOSTCRYPT_STATE)");
    CLI::Option* control_option = app.add_option(
        "--control", context.control_socket,
        "hostcryptd's control socket; calls go to the daemon or fail (default: the daemon that "
        "owns the state directory, if it runs, or $HOSTCRYPT_CONTROL)");
    app.add_flag("--offline", context.offline,
                 "work on the state directory directly, never through a running daemon")
        ->excludes(control_option);
    app.add_flag("--json", context.json_output, "print results as JSON");
    app.require_subcommand(1);
    add_set_commands(app, context);
    add_vault_commands(app, context);
    add_disk_commands(app, context);
    add_instance_commands(app, context);
    add_platform_commands(app, context);
    add_status_commands(app, context);
    add_drill_command(app, context);
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
