// The [control] table, the key monitor's keys of [keys] and the flags that
// override them (config.hpp, command_line.hpp).

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "command_line_fixture.hpp"
#include "common/files.hpp"
#include "daemon/command_line.hpp"
#include "daemon/config.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::daemon;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using hostcrypt::control::Role;
using hostcrypt::test::CommandLineTest;
using hostcrypt::test::TempDir;
using hostcrypt::test::thrown;
namespace fs = std::filesystem;

namespace {

const std::string principal_help = "; write user:NAME, group:NAME, uid:N or gid:N";
const std::string duration_help =
    "; write a whole number and a unit (s, m, h or d), like 90d or 12h";

void check_refused(const std::string& text, ConfigErrc code, const std::string& message) {
    INFO(text);
    const ConfigError error = thrown<ConfigError>([&] { parse_config(text, "test.toml"); });
    CHECK(error.code() == code);
    CHECK_THAT(error.what(), Equals(message));
}

// "reader uid:1000" per grant, in order: readable when a check fails.
std::vector<std::string> grants_text(const std::vector<RoleGrant>& grants) {
    std::vector<std::string> texts;
    for (const RoleGrant& grant : grants) {
        texts.push_back(std::string(hostcrypt::control::to_string(grant.role)) + " " +
                        (grant.principal.kind == Principal::Kind::user ? "user " : "group ") +
                        std::to_string(grant.principal.id) + " " + grant.principal.text);
    }
    return texts;
}

using Texts = std::vector<std::string>;

}  // namespace

TEST_CASE("the control socket and key monitor have defaults", "[config][control]") {
    const DaemonConfig config = parse_config("", "empty.toml");
    CHECK(config.control.socket == "/run/hostcrypt/control.sock");
    CHECK(config.control.socket_group == std::nullopt);
    CHECK(config.control.grants.empty());
    CHECK(config.key_monitor.check_interval == 60s);
    CHECK(config.key_monitor.revocation_grace == 1h);
    CHECK(config.key_monitor.unreachable_tolerance == 4h);
    // An empty [control] table changes nothing.
    CHECK(parse_config("[control]\n[control.roles]\n", "t").control == ControlConfig{});
}

TEST_CASE("every key of [control] is read", "[config][control]") {
    const DaemonConfig config = parse_config(R"(
[control]
socket = "/run/x/control.sock"
group = "root"
[control.roles]
reader = ["uid:1000", "group:root"]
operator = ["gid:50"]
crypto_officer = ["user:root"]
)",
                                             "t");
    CHECK(config.control.socket == "/run/x/control.sock");
    REQUIRE(config.control.socket_group.has_value());
    CHECK(config.control.socket_group->kind == Principal::Kind::group);
    CHECK(config.control.socket_group->id == 0);
    CHECK(config.control.socket_group->text == "group:root");
    // Tables are read in key order.
    CHECK(grants_text(config.control.grants) ==
          Texts{"crypto-officer user 0 user:root", "operator group 50 gid:50",
                "reader user 1000 uid:1000", "reader group 0 group:root"});
    CHECK(config.control.grants[0] ==
          RoleGrant{Role::crypto_officer, Principal{Principal::Kind::user, 0, "user:root"}});
}

TEST_CASE("the control group may be a group: or gid: principal", "[config][control]") {
    const auto group_of = [](const std::string& value) {
        return parse_config("[control]\ngroup = \"" + value + "\"", "t").control.socket_group;
    };
    CHECK(group_of("group:root") == Principal{Principal::Kind::group, 0, "group:root"});
    CHECK(group_of("gid:123") == Principal{Principal::Kind::group, 123, "gid:123"});
}

TEST_CASE("the key monitor's durations are read", "[config][keys]") {
    const DaemonConfig config = parse_config(R"(
[keys]
check_interval = "5s"
revocation_grace = "10m"
unreachable_tolerance = "2d"
platform_key_max_age = "off"
)",
                                             "t");
    CHECK(config.key_monitor.check_interval == 5s);
    CHECK(config.key_monitor.revocation_grace == 10min);
    CHECK(config.key_monitor.unreachable_tolerance == 48h);
    CHECK(config.platform_key_max_age == std::nullopt);
}

TEST_CASE("unknown keys of [control] and [control.roles] are refused",
          "[config][control][errors]") {
    check_refused("[control]\nsockets = \"/run/x.sock\"", ConfigErrc::unknown_key,
                  "test.toml:2: unknown key \"control.sockets\"; [control] takes socket, group "
                  "and the table [control.roles]");
    check_refused("[control]\nsocket = \"/run/x.sock\"\n\nreader = [\"uid:1\"]",
                  ConfigErrc::unknown_key,
                  "test.toml:4: unknown key \"control.reader\"; [control] takes socket, group "
                  "and the table [control.roles]");
    check_refused("[control.roles]\nadmin = [\"uid:1\"]", ConfigErrc::unknown_key,
                  "test.toml:2: unknown key \"control.roles.admin\"; [control.roles] takes "
                  "reader, operator and crypto_officer");
    check_refused("[control.roles]\nreader = []\ndisk_operator = [\"uid:1\"]",
                  ConfigErrc::unknown_key,
                  "test.toml:3: unknown key \"control.roles.disk_operator\"; [control.roles] "
                  "takes reader, operator and crypto_officer");
}

TEST_CASE("the top level and [keys] name their new keys when refusing others", "[config][errors]") {
    check_refused("contrl = 1", ConfigErrc::unknown_key,
                  "test.toml:1: unknown key \"contrl\"; the top level takes state_directory, "
                  "reactors, lending and the tables [listen], [storage], [keys] and "
                  "[control]");
    check_refused("[keys]\ngrace = \"1h\"", ConfigErrc::unknown_key,
                  "test.toml:2: unknown key \"keys.grace\"; [keys] takes platform_key_max_age, "
                  "check_interval, revocation_grace and unreachable_tolerance");
}

TEST_CASE("values of the wrong type in [control] are refused", "[config][control][errors]") {
    check_refused("control = 1", ConfigErrc::wrong_type,
                  "test.toml:1: control must be a table ([control]), not an integer");
    check_refused("[control]\nsocket = 5", ConfigErrc::wrong_type,
                  "test.toml:2: control.socket must be a string: an absolute path, not an "
                  "integer");
    check_refused("[control]\nsocket = [\"/run/x.sock\"]", ConfigErrc::wrong_type,
                  "test.toml:2: control.socket must be a string: an absolute path, not an "
                  "array");
    check_refused("[control]\ngroup = 0", ConfigErrc::wrong_type,
                  "test.toml:2: control.group must be a string: a group name, not an integer");
    check_refused("[control]\nroles = [\"uid:1\"]", ConfigErrc::wrong_type,
                  "test.toml:2: control.roles must be a table, not an array");
    check_refused("[control.roles]\nreader = \"uid:1\"", ConfigErrc::wrong_type,
                  "test.toml:2: control.roles.reader must be an array of principals, like "
                  "[\"group:hostcrypt\"], not a string");
    check_refused("[control.roles]\noperator = [\"uid:1\",\n  1000]", ConfigErrc::wrong_type,
                  "test.toml:3: control.roles.operator[1] must be a string: user:NAME or "
                  "group:NAME, not an integer");
}

TEST_CASE("values of the wrong type in [keys] are refused", "[config][keys][errors]") {
    check_refused("[keys]\ncheck_interval = 60", ConfigErrc::wrong_type,
                  "test.toml:2: keys.check_interval must be a string: a duration like \"60s\" "
                  "or \"1h\", not an integer");
    check_refused("[keys]\nrevocation_grace = true", ConfigErrc::wrong_type,
                  "test.toml:2: keys.revocation_grace must be a string: a duration like \"60s\" "
                  "or \"1h\", not a boolean");
    check_refused("[keys]\nunreachable_tolerance = 1.5", ConfigErrc::wrong_type,
                  "test.toml:2: keys.unreachable_tolerance must be a string: a duration like "
                  "\"60s\" or \"1h\", not a floating-point number");
}

TEST_CASE("bad durations in [keys] are refused with the reason", "[config][keys][errors]") {
    check_refused("[keys]\ncheck_interval = \"60\"", ConfigErrc::invalid_value,
                  "test.toml:2: keys.check_interval: \"60\" is not a duration: it has no unit" +
                      duration_help);
    check_refused(
        "[keys]\nrevocation_grace = \"0s\"", ConfigErrc::invalid_value,
        "test.toml:2: keys.revocation_grace: \"0s\" is not a duration: it is zero" + duration_help);
    check_refused("[keys]\n\nunreachable_tolerance = \"1.5h\"", ConfigErrc::invalid_value,
                  "test.toml:3: keys.unreachable_tolerance: \"1.5h\" is not a duration: it has "
                  "a fraction (use a smaller unit: 90m, not 1.5h)" +
                      duration_help);
    check_refused("[keys]\ncheck_interval = \"-1s\"", ConfigErrc::invalid_value,
                  "test.toml:2: keys.check_interval: \"-1s\" is not a duration: it is negative" +
                      duration_help);
    check_refused("[keys]\ncheck_interval = \"1w\"", ConfigErrc::invalid_value,
                  "test.toml:2: keys.check_interval: \"1w\" is not a duration: \"w\" is not a "
                  "unit" +
                      duration_help);
}

TEST_CASE("a relative or too long control socket path is refused", "[config][control][errors]") {
    check_refused("[control]\nsocket = \"run/control.sock\"", ConfigErrc::invalid_value,
                  "test.toml:2: control.socket: \"run/control.sock\" is not an absolute socket "
                  "path");
    check_refused("[control]\nsocket = \"\"", ConfigErrc::invalid_value,
                  "test.toml:2: control.socket: \"\" is not an absolute socket path");
    const std::string too_long = "/" + std::string(107, 'x');
    const ConfigError error = thrown<ConfigError>(
        [&] { parse_config("[control]\nsocket = \"" + too_long + "\"", "test.toml"); });
    CHECK(error.code() == ConfigErrc::invalid_value);
    CHECK_THAT(error.what(), Contains("test.toml:2: control.socket: ") &&
                                 Contains("a unix socket path can have at most 107"));
}

TEST_CASE("an unknown principal is refused at its place", "[config][control][errors]") {
    check_refused("[control.roles]\nreader = [\"uid:1\",\n  \"user:hostcrypt-no-such-user\"]",
                  ConfigErrc::invalid_value,
                  "test.toml:3: control.roles.reader[1]: \"user:hostcrypt-no-such-user\" is not "
                  "a principal: there is no user hostcrypt-no-such-user" +
                      principal_help);
    check_refused("[control.roles]\ncrypto_officer = [\"alice\"]", ConfigErrc::invalid_value,
                  "test.toml:2: control.roles.crypto_officer[0]: \"alice\" is not a principal: "
                  "it has no kind" +
                      principal_help);
    check_refused("[control.roles]\noperator = [\"uid:x\"]", ConfigErrc::invalid_value,
                  "test.toml:2: control.roles.operator[0]: \"uid:x\" is not a principal: \"x\" "
                  "is not a number" +
                      principal_help);
}

TEST_CASE("the control group must name an existing group", "[config][control][errors]") {
    check_refused("[control]\ngroup = \"hostcrypt-no-such-group\"", ConfigErrc::invalid_value,
                  "test.toml:2: control.group: \"group:hostcrypt-no-such-group\" is not a "
                  "principal: there is no group hostcrypt-no-such-group" +
                      principal_help);
    check_refused("[control]\ngroup = \"user:root\"", ConfigErrc::invalid_value,
                  "test.toml:2: control.group must name a group");
    check_refused("[control]\ngroup = \"uid:0\"", ConfigErrc::invalid_value,
                  "test.toml:2: control.group must name a group");
}

// The example config documents every setting (config.hpp, hostcryptd --help).
TEST_CASE("the example config documents the control socket and the key monitor",
          "[config][example]") {
    const std::string text =
        hostcrypt::read_text_file(fs::path(HOSTCRYPT_SOURCE_DIR) / "daemon" / "hostcryptd.toml");
    for (const char* line : {"\ncheck_interval = ", "\nrevocation_grace = ",
                             "\nunreachable_tolerance = ", "\n[control]\n", "\nsocket = "}) {
        INFO("daemon/hostcryptd.toml lacks the line " << line);
        CHECK(text.find(line) != std::string::npos);
    }
}

TEST_CASE_METHOD(CommandLineTest, "without flags the control and monitor defaults hold",
                 "[command-line][control]") {
    const DaemonConfig loaded = config({});
    CHECK(loaded.control == ControlConfig{});
    CHECK(loaded.control.socket == "/run/hostcrypt/control.sock");
    CHECK(loaded.key_monitor == KeyMonitorConfig{});
}

TEST_CASE_METHOD(CommandLineTest, "option --control names the control socket",
                 "[command-line][control]") {
    CHECK(config({"--control", "/run/other/control.sock"}).control.socket ==
          "/run/other/control.sock");
    CHECK(config({"--control", "ctl.sock"}).control.socket == fs::current_path() / "ctl.sock");
}

TEST_CASE_METHOD(CommandLineTest, "the key monitor flags set their durations",
                 "[command-line][keys]") {
    const DaemonConfig loaded = config({"--key-check-interval", "5s", "--revocation-grace", "10m",
                                        "--unreachable-tolerance", "2h"});
    CHECK(loaded.key_monitor.check_interval == 5s);
    CHECK(loaded.key_monitor.revocation_grace == 10min);
    CHECK(loaded.key_monitor.unreachable_tolerance == 2h);
    // Each alone leaves the others at their defaults.
    const DaemonConfig grace_only = config({"--revocation-grace", "30s"});
    CHECK(grace_only.key_monitor.check_interval == 60s);
    CHECK(grace_only.key_monitor.revocation_grace == 30s);
    CHECK(grace_only.key_monitor.unreachable_tolerance == 4h);
}

TEST_CASE_METHOD(CommandLineTest, "the new flags override the config file and keep its grants",
                 "[command-line][control]") {
    write_default_file(R"(
[keys]
check_interval = "1m"
revocation_grace = "2h"
unreachable_tolerance = "1d"
[control]
socket = "/run/file/control.sock"
group = "root"
[control.roles]
reader = ["uid:1000"]
)");
    const DaemonConfig from_file = config({});
    CHECK(from_file.control.socket == "/run/file/control.sock");
    CHECK(from_file.key_monitor.revocation_grace == 2h);
    CHECK(from_file.key_monitor.unreachable_tolerance == 24h);
    REQUIRE(from_file.control.grants.size() == 1);

    const DaemonConfig overridden =
        config({"--control", "/run/flag.sock", "--key-check-interval", "10s", "--revocation-grace",
                "5m", "--unreachable-tolerance", "30m"});
    CHECK(overridden.control.socket == "/run/flag.sock");
    CHECK(overridden.control.socket_group == from_file.control.socket_group);
    CHECK(overridden.control.grants == from_file.control.grants);
    CHECK(overridden.key_monitor.check_interval == 10s);
    CHECK(overridden.key_monitor.revocation_grace == 5min);
    CHECK(overridden.key_monitor.unreachable_tolerance == 30min);
}

TEST_CASE_METHOD(CommandLineTest, "option --help lists the control and monitor flags",
                 "[command-line][control]") {
    const auto result = run({"--help"});
    REQUIRE(std::holds_alternative<ExitRequest>(result));
    CHECK(std::get<ExitRequest>(result).exit_code == 0);
    for (const char* option :
         {"--control", "--key-check-interval", "--revocation-grace", "--unreachable-tolerance"}) {
        CHECK_THAT(out.str(), Contains(option));
    }
    CHECK_THAT(out.str(), Contains("default /run/hostcrypt/control.sock"));
}

TEST_CASE_METHOD(CommandLineTest, "bad values of the new flags are usage errors",
                 "[command-line][errors]") {
    CHECK_THAT(usage_error({"--key-check-interval", "5"}),
               Contains("--key-check-interval: \"5\" is not a duration: it has no unit"));
    CHECK_THAT(usage_error({"--revocation-grace", "0s"}),
               Contains("--revocation-grace: \"0s\" is not a duration: it is zero"));
    CHECK_THAT(usage_error({"--unreachable-tolerance", "1.5h"}),
               Contains("--unreachable-tolerance: \"1.5h\" is not a duration: it has a "
                        "fraction"));
    CHECK_THAT(usage_error({"--key-check-interval", ""}),
               Contains("--key-check-interval: \"\" is not a duration: it is empty"));
    CHECK_THAT(usage_error({"--control", ""}), Contains("--control: an empty path"));
    CHECK_THAT(usage_error({"--control", "/" + std::string(200, 'x')}),
               Contains("--control: ") && Contains("a unix socket path can have at most 107"));
    CHECK_THAT(usage_error({"--revocation-grace"}), Contains("--revocation-grace"));
    CHECK(out.str().empty());
}

TEST_CASE_METHOD(CommandLineTest, "a bad [control] table in the config file is thrown",
                 "[command-line][errors]") {
    write_default_file("[control]\nsocket = \"relative.sock\"\n");
    const ConfigError error = thrown<ConfigError>([&] { run({}); });
    CHECK(error.code() == ConfigErrc::invalid_value);
    CHECK_THAT(error.what(), Contains("etc-hostcryptd.toml:2: control.socket: \"relative.sock\" "
                                      "is not an absolute socket path"));
}
