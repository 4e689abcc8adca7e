#include "daemon/command_line.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "command_line_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::daemon;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using hostcrypt::test::CommandLineTest;
using hostcrypt::test::TempDir;
using hostcrypt::test::thrown;
namespace fs = std::filesystem;

namespace {

// "unix:/a tcp:127.0.0.1:1": readable when a check fails.
std::string listening_on(const DaemonConfig& config) {
    std::string text;
    for (const ListenAddress& address : config.listeners) {
        text += (text.empty() ? "" : " ") + address.to_string();
    }
    return text;
}

const std::string file_settings = R"(
state_directory = "/srv/from-file"
reactors = 8
[listen]
unix = ["/run/file.sock"]
[storage]
direct_io = true
[keys]
platform_key_max_age = "30d"
)";

}  // namespace

TEST_CASE_METHOD(CommandLineTest, "with no options and no config file the defaults hold",
                 "[command-line]") {
    DaemonConfig defaults;
    defaults.listeners = {default_listener()};
    CHECK(config({}) == defaults);
    CHECK(out.str().empty());
    CHECK(err.str().empty());
}

TEST_CASE_METHOD(CommandLineTest, "the default config file is read when it exists",
                 "[command-line]") {
    write_file("etc-hostcryptd.toml", file_settings);
    const DaemonConfig loaded = config({});
    CHECK(loaded.config_file == environment.default_config_file);
    CHECK(loaded.state_directory == "/srv/from-file");
    CHECK(loaded.reactors == 8);
    CHECK(listening_on(loaded) == "unix:/run/file.sock");
    CHECK(loaded.direct_io);
    CHECK(loaded.platform_key_max_age == 30 * 24h);
}

TEST_CASE_METHOD(CommandLineTest, "option --config names the file instead of the default",
                 "[command-line]") {
    write_file("etc-hostcryptd.toml", "reactors = 1\n");
    const fs::path file = write_file("mine.toml", "reactors = 2\n");
    const DaemonConfig loaded = config({"--config", file.string()});
    CHECK(loaded.reactors == 2);
    CHECK(loaded.config_file == file);
}

TEST_CASE_METHOD(CommandLineTest, "every option overrides the config file", "[command-line]") {
    write_file("etc-hostcryptd.toml", file_settings);
    const DaemonConfig overridden =
        config({"--state", "/srv/from-flag", "--reactors", "2", "--tcp", "10809", "--unix",
                "/run/flag.sock", "--tcp", "[::1]:10810", "--no-direct-io",
                "--platform-key-max-age", "12h"});
    CHECK(overridden.state_directory == "/srv/from-flag");
    CHECK(overridden.reactors == 2);
    CHECK(listening_on(overridden) == "unix:/run/flag.sock tcp:127.0.0.1:10809 tcp:[::1]:10810");
    CHECK_FALSE(overridden.direct_io);
    CHECK(overridden.platform_key_max_age == 12h);

    CHECK(config({"--platform-key-max-age", "off"}).platform_key_max_age == std::nullopt);
    CHECK(config({"--reactors", "0"}).reactors == 0);
}

TEST_CASE_METHOD(CommandLineTest, "listeners on the command line replace the file's",
                 "[command-line]") {
    write_file("etc-hostcryptd.toml", "[listen]\nunix = [\"/run/a.sock\"]\ntcp = [\"1\"]\n");
    CHECK(listening_on(config({"--tcp", "2"})) == "tcp:127.0.0.1:2");
    CHECK(listening_on(config({})) == "unix:/run/a.sock tcp:127.0.0.1:1");
}

TEST_CASE_METHOD(CommandLineTest, "option --direct-io turns on what the file leaves off",
                 "[command-line]") {
    CHECK(config({"--direct-io"}).direct_io);
    CHECK_FALSE(config({}).direct_io);
}

TEST_CASE_METHOD(CommandLineTest, "options --no-lending and --lending override the file",
                 "[command-line]") {
    CHECK_FALSE(config({"--no-lending"}).lending);
    CHECK(config({}).lending);
    write_file("etc-hostcryptd.toml", "lending = false\n");
    CHECK_FALSE(config({}).lending);
    CHECK(config({"--lending"}).lending);
}

TEST_CASE_METHOD(CommandLineTest, "option --read-only serves every export read-only",
                 "[command-line]") {
    CHECK(config({"--read-only"}).read_only);
    CHECK_FALSE(config({}).read_only);
}

TEST_CASE_METHOD(CommandLineTest, "option --temp-dir places the temp disks", "[command-line]") {
    CHECK(config({"--state", "/srv/s"}).temp_directory_in_use() == "/srv/s/temp");
    CHECK(config({"--temp-dir", "/nvme/t"}).temp_directory_in_use() == "/nvme/t");
    CHECK(config({"--temp-dir", "t"}).temp_directory == fs::current_path() / "t");
    CHECK(config({"--state", "/srv/s"}).cache_directory_in_use() == "/srv/s/cache");
    CHECK(config({"--cache-dir", "/nvme/c"}).cache_directory_in_use() == "/nvme/c");
}

TEST_CASE_METHOD(CommandLineTest, "$HOSTCRYPT_STATE overrides the file and --state overrides it",
                 "[command-line]") {
    write_file("etc-hostcryptd.toml", file_settings);
    environment.state_directory = "/srv/from-env";
    CHECK(config({}).state_directory == "/srv/from-env");
    CHECK(config({"--state", "/srv/from-flag"}).state_directory == "/srv/from-flag");
}

TEST_CASE("the process environment is read only when HOSTCRYPT_STATE is set and not empty",
          "[command-line]") {
    ::setenv("HOSTCRYPT_STATE", "/srv/env", 1);
    CHECK(CommandLineEnvironment::of_process().state_directory == "/srv/env");
    ::setenv("HOSTCRYPT_STATE", "", 1);
    CHECK(CommandLineEnvironment::of_process().state_directory == std::nullopt);
    ::unsetenv("HOSTCRYPT_STATE");
    CHECK(CommandLineEnvironment::of_process().state_directory == std::nullopt);
    CHECK(CommandLineEnvironment::of_process().default_config_file ==
          "/etc/hostcrypt/hostcryptd.toml");
}

TEST_CASE_METHOD(CommandLineTest, "relative paths are taken from the current directory",
                 "[command-line]") {
    environment.state_directory = "env-state";
    const DaemonConfig from_env = config({});
    CHECK(from_env.state_directory == fs::current_path() / "env-state");
    const DaemonConfig from_flags = config({"--state", "state", "--unix", "x.sock"});
    CHECK(from_flags.state_directory == fs::current_path() / "state");
    CHECK(listening_on(from_flags) == "unix:" + (fs::current_path() / "x.sock").string());
}

TEST_CASE_METHOD(CommandLineTest, "option --help explains the precedence and exits 0",
                 "[command-line]") {
    CHECK(exit_code({"--help"}) == 0);
    const std::string help = out.str();
    for (const char* option : {"--config", "--state", "--unix", "--tcp", "--reactors",
                               "--direct-io", "--no-direct-io", "--platform-key-max-age"}) {
        CHECK_THAT(help, Contains(option));
    }
    CHECK_THAT(help, Contains("built-in defaults,\nthe config file, $HOSTCRYPT_STATE, then these "
                              "options"));
    CHECK_THAT(help, Contains("replace the listeners of the config file; they do not add"));
    CHECK(err.str().empty());
}

TEST_CASE_METHOD(CommandLineTest, "option --version prints the version and exits 0",
                 "[command-line]") {
    CHECK(exit_code({"--version"}) == 0);
    CHECK_THAT(out.str(), StartsWith("hostcryptd "));
}

TEST_CASE_METHOD(CommandLineTest, "usage errors are printed and exit 2", "[command-line][errors]") {
    CHECK_THAT(usage_error({"--frobnicate"}), Contains("--frobnicate"));
    CHECK_THAT(usage_error({"serve"}), Contains("serve"));
    CHECK_THAT(usage_error({"--reactors", "257"}), Contains("--reactors"));
    CHECK_THAT(usage_error({"--reactors", "four"}), Contains("--reactors"));
    CHECK_THAT(usage_error({"--reactors", "-1"}), Contains("--reactors"));
    CHECK_THAT(usage_error({"--tcp", "localhost:10809"}),
               Contains("--tcp: \"localhost:10809\" is not a TCP address to listen on: "
                        "localhost is not an IPv4 address"));
    CHECK_THAT(usage_error({"--tcp", "10809", "--tcp", "127.0.0.1:10809"}),
               Contains("--tcp: tcp:127.0.0.1:10809 is given twice"));
    CHECK_THAT(usage_error({"--unix", "/" + std::string(200, 'x')}),
               Contains("--unix: the socket path"));
    CHECK_THAT(usage_error({"--unix", "/run/a.sock", "/run/b.sock"}), Contains("/run/b.sock"));
    CHECK_THAT(usage_error({"--unix", ""}), Contains("--unix: an empty path"));
    CHECK_THAT(usage_error({"--state", ""}), Contains("--state: an empty path"));
    CHECK_THAT(usage_error({"--platform-key-max-age", "90"}),
               Contains("--platform-key-max-age: \"90\" is not a duration: it has no unit") &&
                   Contains("like 90d or 12h, or off"));
    CHECK_THAT(usage_error({"--direct-io", "--no-direct-io"}), Contains("excludes"));
    CHECK_THAT(usage_error({"--config"}), Contains("--config"));
    CHECK(out.str().empty());
}

TEST_CASE_METHOD(CommandLineTest, "config file errors are thrown, not printed",
                 "[command-line][errors]") {
    const ConfigError missing = thrown<ConfigError>([&] {
        run({"--config", (dir / "nope.toml").string()});
    });
    CHECK(missing.code() == ConfigErrc::not_found);
    CHECK_THAT(missing.what(), Contains("nope.toml does not exist"));

    write_file("etc-hostcryptd.toml", "reactors = \"many\"\n");
    const ConfigError invalid = thrown<ConfigError>([&] { run({}); });
    CHECK(invalid.code() == ConfigErrc::wrong_type);
    CHECK_THAT(invalid.what(), Contains("etc-hostcryptd.toml:1: reactors must be"));
    CHECK(err.str().empty());
}

TEST_CASE_METHOD(CommandLineTest, "a bad option is reported before the config file is read",
                 "[command-line][errors]") {
    write_file("etc-hostcryptd.toml", "this is not toml\n");
    CHECK(exit_code({"--tcp", "nowhere"}) == ExitRequest::exit_usage);
    CHECK(exit_code({"--help"}) == 0);
}
