#include "daemon/config.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::daemon;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using hostcrypt::test::TempDir;
using hostcrypt::test::thrown;
namespace fs = std::filesystem;

namespace {

const fs::path example_file = fs::path(HOSTCRYPT_SOURCE_DIR) / "daemon" / "hostcryptd.toml";

ListenAddress tcp_at(const char* host, std::uint16_t port) {
    return ListenAddress::tcp(host, port);
}

// As text, so a failing check shows the addresses.
std::vector<std::string> addresses(const std::vector<ListenAddress>& listeners) {
    std::vector<std::string> texts;
    std::transform(listeners.begin(), listeners.end(), std::back_inserter(texts),
                   [](const ListenAddress& address) { return address.to_string(); });
    return texts;
}

using Texts = std::vector<std::string>;

// The error parse_config throws for `text`, read as "test.toml".
ConfigError config_error(const std::string& text) {
    return thrown<ConfigError>([&] { parse_config(text, "test.toml"); });
}

void check_refused(const std::string& text, ConfigErrc code, const std::string& message) {
    INFO(text);
    const ConfigError error = config_error(text);
    CHECK(error.code() == code);
    CHECK_THAT(error.what(), Equals(message));
}

}  // namespace

TEST_CASE("an empty config keeps every default", "[config]") {
    const DaemonConfig config = parse_config("", "empty.toml");
    CHECK(config.state_directory == "/var/lib/hostcrypt");
    CHECK(config.reactors == 0);
    CHECK(config.lending);
    CHECK(addresses(config.listeners) == Texts{"unix:/run/hostcrypt/nbd.sock"});
    CHECK(config.listeners == std::vector{default_listener()});
    CHECK_FALSE(config.direct_io);
    CHECK(config.temp_directory.empty());
    CHECK(config.temp_directory_in_use() == "/var/lib/hostcrypt/temp");
    CHECK(config.cache_directory.empty());
    CHECK(config.cache_directory_in_use() == "/var/lib/hostcrypt/cache");
    CHECK(config.platform_key_max_age == 90 * 24h);
    CHECK(config.config_file.empty());
}

TEST_CASE("every key of the config is read", "[config]") {
    const DaemonConfig config = parse_config(R"(
state_directory = "/srv/hostcrypt"
reactors = 4
lending = false
[listen]
unix = ["/run/a.sock", "/run/b.sock"]
tcp = ["10.0.0.1:10809", "[::1]:10810", "10811", "0.0.0.0:1", "[::]:65535"]
[storage]
direct_io = true
read_only = true
temp_directory = "/nvme/hostcrypt-temp"
cache_directory = "/nvme/hostcrypt-cache"
[keys]
platform_key_max_age = "12h"
)",
                                             "full.toml");
    CHECK(config.state_directory == "/srv/hostcrypt");
    CHECK(config.reactors == 4);
    CHECK_FALSE(config.lending);
    CHECK(addresses(config.listeners) ==
          Texts{"unix:/run/a.sock", "unix:/run/b.sock", "tcp:10.0.0.1:10809", "tcp:[::1]:10810",
                "tcp:127.0.0.1:10811", "tcp:0.0.0.0:1", "tcp:[::]:65535"});
    CHECK(config.listeners[3] == tcp_at("::1", 10810));
    CHECK(config.direct_io);
    CHECK(config.read_only);
    CHECK(config.temp_directory_in_use() == "/nvme/hostcrypt-temp");
    CHECK(config.cache_directory_in_use() == "/nvme/hostcrypt-cache");
    CHECK(config.platform_key_max_age == 12h);
}

TEST_CASE("the config takes the limits of each range", "[config]") {
    CHECK(parse_config("reactors = 256", "t").reactors == 256);
    CHECK(parse_config("[keys]\nplatform_key_max_age = \"off\"", "t").platform_key_max_age ==
          std::nullopt);
    CHECK(parse_config("[keys]\nplatform_key_max_age = \"1s\"", "t").platform_key_max_age == 1s);
    const std::string longest = "/" + std::string(106, 'x');
    CHECK(addresses(parse_config("[listen]\nunix = [\"" + longest + "\"]", "t").listeners) ==
          Texts{"unix:" + longest});
}

TEST_CASE("naming only tcp listeners drops the default unix socket", "[config]") {
    CHECK(addresses(parse_config("[listen]\ntcp = [\"10809\"]", "t").listeners) ==
          Texts{"tcp:127.0.0.1:10809"});
    CHECK(addresses(parse_config("listen = { tcp = [\"10809\"] }", "t").listeners) ==
          Texts{"tcp:127.0.0.1:10809"});
}

TEST_CASE("listen addresses print as kind:address", "[config]") {
    CHECK(ListenAddress::unix_socket("/run/x.sock").to_string() == "unix:/run/x.sock");
    CHECK(tcp_at("127.0.0.1", 10809).to_string() == "tcp:127.0.0.1:10809");
    CHECK(tcp_at("::1", 10809).to_string() == "tcp:[::1]:10809");
    CHECK(parse_tcp_address("[::1]:7").to_string() == "tcp:[::1]:7");
}

TEST_CASE("a bare port listens on loopback only", "[config]") {
    CHECK(parse_tcp_address("10809") == tcp_at("127.0.0.1", 10809));
    CHECK(parse_tcp_address("0.0.0.0:10809") == tcp_at("0.0.0.0", 10809));
}

TEST_CASE("malformed TCP addresses are refused with the reason", "[config][errors]") {
    const auto refused = [](const std::string& text, const std::string& why) {
        INFO(text);
        const ConfigError error = thrown<ConfigError>([&] { parse_tcp_address(text); });
        CHECK(error.code() == ConfigErrc::invalid_value);
        CHECK_THAT(error.what(),
                   StartsWith("\"" + text + "\" is not a TCP address to listen on: " + why) &&
                       EndsWith("; write HOST:PORT, [IPV6]:PORT, or PORT alone for "
                                "127.0.0.1:PORT"));
    };
    refused("", "it is empty");
    refused("0", "the port 0 is not from 1 to 65535");
    refused("65536", "the port 65536 is not from 1 to 65535");
    refused("99999999999999999999", "the port 99999999999999999999 is not from 1 to 65535");
    refused("127.0.0.1:0", "the port 0 is not from 1 to 65535");
    refused("127.0.0.1:", "the port \"\" is not a number");
    refused("127.0.0.1:http", "the port \"http\" is not a number");
    refused("127.0.0.1:-1", "the port \"-1\" is not a number");
    refused("127.0.0.1", "there is no port");
    refused(":10809",
            "an empty host is not an IPv4 address (host names are not accepted, so "
            "the address never depends on DNS)");
    refused("localhost:10809", "localhost is not an IPv4 address");
    refused("256.0.0.1:10809", "256.0.0.1 is not an IPv4 address");
    refused("::1:10809", "an IPv6 address needs brackets, like [::1]:10809");
    refused("[::1]", "an IPv6 address in brackets must be followed by :PORT");
    refused("[::1]10809", "an IPv6 address in brackets must be followed by :PORT");
    refused("[::1:10809", "an IPv6 address in brackets must be followed by :PORT");
    refused("[127.0.0.1]:10809", "127.0.0.1 is not an IPv6 address");
    refused("[fe80::1%eth0]:10809", "fe80::1%eth0 is not an IPv6 address");
}

TEST_CASE("unix socket paths must be absolute and fit in sockaddr_un", "[config][errors]") {
    CHECK(parse_unix_address("/run/x.sock") == ListenAddress::unix_socket("/run/x.sock"));
    const ConfigError relative = thrown<ConfigError>([] { parse_unix_address("run/x.sock"); });
    CHECK(relative.code() == ConfigErrc::invalid_value);
    CHECK_THAT(relative.what(), Equals("\"run/x.sock\" is not an absolute socket path"));
    const std::string too_long = "/" + std::string(107, 'x');
    const ConfigError long_path = thrown<ConfigError>([&] { parse_unix_address(too_long); });
    CHECK(long_path.code() == ConfigErrc::invalid_value);
    CHECK_THAT(long_path.what(),
               Contains("is 108 bytes long; a unix socket path can have at most 107"));
}

TEST_CASE("config that is not TOML names the place", "[config][errors]") {
    const ConfigError error = config_error("reactors = 4\nreactors =\n");
    CHECK(error.code() == ConfigErrc::syntax);
    CHECK_THAT(error.what(), Contains("test.toml:2:") && Contains(": not valid TOML: "));
    CHECK(config_error("reactors = 4\nreactors = 5\n").code() == ConfigErrc::syntax);
    CHECK_THAT(config_error("reactors = 99999999999999999999").what(),
               Contains("test.toml:1:") && Contains("not representable"));
}

TEST_CASE("unknown keys are refused with the keys each table takes", "[config][errors]") {
    check_refused("\n\nreactor = 4", ConfigErrc::unknown_key,
                  "test.toml:3: unknown key \"reactor\"; the top level takes state_directory, "
                  "reactors, lending and the tables [listen], [storage], [keys] and "
                  "[control]");
    check_refused("[listen]\nunix = [\"/x\"]\nudp = [\"1\"]", ConfigErrc::unknown_key,
                  "test.toml:3: unknown key \"listen.udp\"; [listen] takes unix and tcp");
    check_refused("[storage]\ndirectio = true", ConfigErrc::unknown_key,
                  "test.toml:2: unknown key \"storage.directio\"; [storage] takes direct_io, "
                  "read_only, temp_directory and cache_directory");
    check_refused("[keys]\nmax_age = \"1d\"", ConfigErrc::unknown_key,
                  "test.toml:2: unknown key \"keys.max_age\"; [keys] takes platform_key_max_age, "
                  "check_interval, revocation_grace and unreachable_tolerance");
    check_refused("[daemon]\nreactors = 4", ConfigErrc::unknown_key,
                  "test.toml:1: unknown key \"daemon\"; the top level takes state_directory, "
                  "reactors, lending and the tables [listen], [storage], [keys] and "
                  "[control]");
}

TEST_CASE("values of the wrong type are refused with the type expected", "[config][errors]") {
    check_refused("state_directory = 5", ConfigErrc::wrong_type,
                  "test.toml:1: state_directory must be a string: an absolute path, not an "
                  "integer");
    check_refused("reactors = \"4\"", ConfigErrc::wrong_type,
                  "test.toml:1: reactors must be a whole number from 0 (one per online CPU) to "
                  "256, not a string");
    check_refused("reactors = 4.0", ConfigErrc::wrong_type,
                  "test.toml:1: reactors must be a whole number from 0 (one per online CPU) to "
                  "256, not a floating-point number");
    check_refused("listen = \"/run/x.sock\"", ConfigErrc::wrong_type,
                  "test.toml:1: listen must be a table ([listen]), not a string");
    check_refused("[listen]\nunix = \"/run/x.sock\"", ConfigErrc::wrong_type,
                  "test.toml:2: listen.unix must be an array of strings, like "
                  "[\"/run/hostcrypt/nbd.sock\"], not a string");
    check_refused("[listen]\nunix = [\"/a\",\n  5]", ConfigErrc::wrong_type,
                  "test.toml:3: listen.unix[1] must be a string: an absolute socket path, not an "
                  "integer");
    check_refused("[listen]\ntcp = [10809]", ConfigErrc::wrong_type,
                  "test.toml:2: listen.tcp[0] must be a string: HOST:PORT, [IPV6]:PORT or PORT, "
                  "not an integer");
    check_refused("[listen]\ntcp = { port = 1 }", ConfigErrc::wrong_type,
                  "test.toml:2: listen.tcp must be an array of strings, like "
                  "[\"127.0.0.1:10809\"], not a table");
    check_refused("storage = []", ConfigErrc::wrong_type,
                  "test.toml:1: storage must be a table ([storage]), not an array");
    check_refused("lending = \"no\"", ConfigErrc::wrong_type,
                  "test.toml:1: lending must be true or false, not a string");
    check_refused("[storage]\ndirect_io = \"yes\"", ConfigErrc::wrong_type,
                  "test.toml:2: storage.direct_io must be true or false, not a string");
    check_refused("keys = 1", ConfigErrc::wrong_type,
                  "test.toml:1: keys must be a table ([keys]), not an integer");
    check_refused("[keys]\nplatform_key_max_age = 90", ConfigErrc::wrong_type,
                  "test.toml:2: keys.platform_key_max_age must be a string: a duration like "
                  "\"90d\", or \"off\", not an integer");
    check_refused("[keys]\nplatform_key_max_age = false", ConfigErrc::wrong_type,
                  "test.toml:2: keys.platform_key_max_age must be a string: a duration like "
                  "\"90d\", or \"off\", not a boolean");
    check_refused("state_directory = 2026-01-01", ConfigErrc::wrong_type,
                  "test.toml:1: state_directory must be a string: an absolute path, not a date "
                  "or time");
}

TEST_CASE("values out of range are refused with what is allowed", "[config][errors]") {
    check_refused("reactors = 257", ConfigErrc::invalid_value,
                  "test.toml:1: reactors is 257; it must be a whole number from 0 (one per "
                  "online CPU) to 256");
    check_refused("reactors = -1", ConfigErrc::invalid_value,
                  "test.toml:1: reactors is -1; it must be a whole number from 0 (one per "
                  "online CPU) to 256");
    check_refused("state_directory = \"var/lib/hostcrypt\"", ConfigErrc::invalid_value,
                  "test.toml:1: state_directory must be an absolute path, not "
                  "\"var/lib/hostcrypt\"");
    check_refused("state_directory = \"\"", ConfigErrc::invalid_value,
                  "test.toml:1: state_directory must be an absolute path, not \"\"");
    check_refused("[storage]\ntemp_directory = \"temp\"", ConfigErrc::invalid_value,
                  "test.toml:2: storage.temp_directory must be an absolute path, not \"temp\"");
    check_refused("[storage]\ncache_directory = \"c\"", ConfigErrc::invalid_value,
                  "test.toml:2: storage.cache_directory must be an absolute path, not \"c\"");
    check_refused("[listen]\nunix = [\"run/x.sock\"]", ConfigErrc::invalid_value,
                  "test.toml:2: listen.unix[0]: \"run/x.sock\" is not an absolute socket path");
    check_refused("[listen]\ntcp = [\"10809\",\n\"localhost:1\"]", ConfigErrc::invalid_value,
                  "test.toml:3: listen.tcp[1]: \"localhost:1\" is not a TCP address to listen "
                  "on: localhost is not an IPv4 address (host names are not accepted, so the "
                  "address never depends on DNS); write HOST:PORT, [IPV6]:PORT, or PORT alone "
                  "for 127.0.0.1:PORT");
    check_refused("[listen]\ntcp = [\"70000\"]", ConfigErrc::invalid_value,
                  "test.toml:2: listen.tcp[0]: \"70000\" is not a TCP address to listen on: the "
                  "port 70000 is not from 1 to 65535; write HOST:PORT, [IPV6]:PORT, or PORT "
                  "alone for 127.0.0.1:PORT");
    check_refused("[keys]\nplatform_key_max_age = \"90\"", ConfigErrc::invalid_value,
                  "test.toml:2: keys.platform_key_max_age: \"90\" is not a duration: it has no "
                  "unit; write a whole number and a unit (s, m, h or d), like 90d or 12h, or "
                  "\"off\" to never rotate");
    check_refused("[keys]\nplatform_key_max_age = \"0d\"", ConfigErrc::invalid_value,
                  "test.toml:2: keys.platform_key_max_age: \"0d\" is not a duration: it is "
                  "zero; write a whole number and a unit (s, m, h or d), like 90d or 12h, or "
                  "\"off\" to never rotate");
    check_refused("[keys]\nplatform_key_max_age = \"never\"", ConfigErrc::invalid_value,
                  "test.toml:2: keys.platform_key_max_age: \"never\" is not a duration: it "
                  "does not start with a number; write a whole number and a unit (s, m, h or "
                  "d), like 90d or 12h, or \"off\" to never rotate");
}

TEST_CASE("a listener named twice is refused at its second place", "[config][errors]") {
    check_refused("[listen]\ntcp = [\"10809\",\n \"127.0.0.1:10809\"]", ConfigErrc::invalid_value,
                  "test.toml:3: listen.tcp[1]: tcp:127.0.0.1:10809 is listed twice");
    check_refused("[listen]\nunix = [\"/run/a\", \"/run/a\"]", ConfigErrc::invalid_value,
                  "test.toml:2: listen.unix[1]: unix:/run/a is listed twice");
}

TEST_CASE("a listen table that names no listener is refused", "[config][errors]") {
    const std::string message =
        "[listen] names no listener; give a unix path or a tcp address, or leave [listen] out "
        "for the default (unix:/run/hostcrypt/nbd.sock)";
    check_refused("reactors = 1\n[listen]\n", ConfigErrc::invalid_value, "test.toml:2: " + message);
    check_refused("[listen]\nunix = []\ntcp = []", ConfigErrc::invalid_value,
                  "test.toml:1: " + message);
}

TEST_CASE("a config file is read and remembered", "[config]") {
    TempDir dir;
    const fs::path file = dir / "hostcryptd.toml";
    std::ofstream(file) << "reactors = 3\n";
    const DaemonConfig config = load_config_file(file);
    CHECK(config.reactors == 3);
    CHECK(config.config_file == file);
}

TEST_CASE("config file errors name the file", "[config][errors]") {
    TempDir dir;
    const ConfigError missing = thrown<ConfigError>([&] { load_config_file(dir / "nope.toml"); });
    CHECK(missing.code() == ConfigErrc::not_found);
    CHECK_THAT(missing.what(),
               Equals("config file " + (dir / "nope.toml").string() + " does not exist"));

    const ConfigError directory = thrown<ConfigError>([&] { load_config_file(dir.path()); });
    CHECK(directory.code() == ConfigErrc::unreadable);
    CHECK_THAT(directory.what(),
               Contains("config file: cannot read " + dir.path().string() + ": Is a directory"));

    const fs::path bad = dir / "bad.toml";
    std::ofstream(bad) << "# comment\nreactors = 300\n";
    const ConfigError invalid = thrown<ConfigError>([&] { load_config_file(bad); });
    CHECK(invalid.code() == ConfigErrc::invalid_value);
    CHECK_THAT(invalid.what(), Contains(bad.string() + ":2: reactors is 300"));
}

TEST_CASE("the example config parses to the built-in defaults", "[config][example]") {
    DaemonConfig defaults;
    defaults.listeners = {default_listener()};
    defaults.config_file = example_file;
    CHECK(load_config_file(example_file) == defaults);
}

TEST_CASE("the example config documents every key", "[config][example]") {
    const std::string text = hostcrypt::read_text_file(example_file);
    for (const char* line : {"\nstate_directory = ", "\nreactors = ", "\n[listen]\n",
                             "\nunix = ", "\n# tcp = ", "\n[storage]\n",
                             "\ndirect_io = ", "\n[keys]\n", "\nplatform_key_max_age = "}) {
        INFO(line);
        CHECK_THAT(text, Contains(line));
    }
    // The commented-out tcp example must be valid too.
    const std::size_t tcp = text.find("\n# tcp = ") + 3;
    const std::string tcp_line = text.substr(tcp, text.find('\n', tcp) - tcp);
    CHECK(addresses(parse_config("[listen]\n" + tcp_line, "example").listeners) ==
          Texts{"tcp:127.0.0.1:10809", "tcp:[::1]:10809"});
}
