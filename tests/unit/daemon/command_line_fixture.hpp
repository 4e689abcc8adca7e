#pragma once

// The fixture of the command-line tests (command_line_test.cpp,
// control_config_test.cpp).

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "daemon/command_line.hpp"
#include "support/temp_dir.hpp"

namespace hostcrypt::test {

// A command line run against a scratch directory, where the default config
// file is absent until a test writes it.
struct CommandLineTest {
    TempDir dir;
    daemon::CommandLineEnvironment environment{dir / "etc-hostcryptd.toml", std::nullopt};
    std::ostringstream out;
    std::ostringstream err;

    std::variant<daemon::DaemonConfig, daemon::ExitRequest> run(std::vector<std::string> args) {
        args.insert(args.begin(), "hostcryptd");
        std::vector<const char*> argv;
        for (const std::string& arg : args) {
            argv.push_back(arg.c_str());
        }
        return daemon::parse_command_line(static_cast<int>(argv.size()), argv.data(), out, err,
                                          environment);
    }

    daemon::DaemonConfig config(const std::vector<std::string>& args) {
        auto result = run(args);
        INFO("stderr: " << err.str());
        REQUIRE(std::holds_alternative<daemon::DaemonConfig>(result));
        return std::get<daemon::DaemonConfig>(result);
    }

    // The exit code of a command line that does not start the daemon.
    int exit_code(const std::vector<std::string>& args) {
        auto result = run(args);
        REQUIRE(std::holds_alternative<daemon::ExitRequest>(result));
        return std::get<daemon::ExitRequest>(result).exit_code;
    }

    // The usage error a command line prints; checks that it exits 2.
    std::string usage_error(const std::vector<std::string>& args) {
        err.str("");
        CHECK(exit_code(args) == daemon::ExitRequest::exit_usage);
        return err.str();
    }

    void write_default_file(const std::string& text) {
        std::ofstream(environment.default_config_file) << text;
    }

    std::filesystem::path write_file(const std::string& name, const std::string& text) {
        const std::filesystem::path file = dir / name;
        std::ofstream(file) << text;
        return file;
    }
};

}  // namespace hostcrypt::test
