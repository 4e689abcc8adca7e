#include "daemon/config.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <sys/un.h>
#include <system_error>
#include <toml++/toml.h>

#include <fmt/format.h>

#include "common/duration.hpp"
#include "common/files.hpp"

namespace hostcrypt::daemon {

namespace fs = std::filesystem;

namespace {

std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::none:
            return "nothing";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time:
            return "a date or time";
    }
    return "an unknown type";
}

// Walks one parsed file, and knows how to say where in it something is wrong.
class FileReader {
  public:
    explicit FileReader(std::string_view source) : source_(source) {}

    [[noreturn]] void fail(ConfigErrc code, const toml::node& at, std::string_view message) const {
        throw ConfigError(code, fmt::format("{}:{}: {}", source_, at.source().begin.line, message));
    }

    // `expected` completes "KEY must be ...".
    // T is a native TOML type (std::string, std::int64_t, bool, toml::table, toml::array).
    template <typename T>
    const auto& expect(const toml::node& node, std::string_view key,
                       std::string_view expected) const {
        if (const auto* value = node.as<T>()) {
            return *value;
        }
        fail(ConfigErrc::wrong_type, node,
             fmt::format("{} must be {}, not {}", key, expected, type_name(node)));
    }

    // `takes` lists the keys the table does know, for the message.
    [[noreturn]] void unknown_key(const toml::node& at, std::string_view key,
                                  std::string_view takes) const {
        fail(ConfigErrc::unknown_key, at, fmt::format("unknown key \"{}\"; {}", key, takes));
    }

    void read_root(const toml::table& root, DaemonConfig& config) const {
        for (const auto& [key, node] : root) {
            if (key == "state_directory") {
                config.state_directory = read_absolute_path(node, "state_directory");
            } else if (key == "reactors") {
                config.reactors = read_reactors(node);
            } else if (key == "lending") {
                config.lending = expect<bool>(node, "lending", "true or false").get();
            } else if (key == "listen") {
                config.listeners =
                    read_listen(expect<toml::table>(node, "listen", "a table ([listen])"));
            } else if (key == "storage") {
                read_storage(expect<toml::table>(node, "storage", "a table ([storage])"), config);
            } else if (key == "keys") {
                read_keys(expect<toml::table>(node, "keys", "a table ([keys])"), config);
            } else if (key == "control") {
                read_control(expect<toml::table>(node, "control", "a table ([control])"),
                             config.control);
            } else {
                unknown_key(node, key.str(),
                            "the top level takes state_directory, reactors, lending and the "
                            "tables [listen], [storage], [keys] and [control]");
            }
        }
    }

  private:
    fs::path read_absolute_path(const toml::node& node, std::string_view key) const {
        const std::string& text =
            expect<std::string>(node, key, "a string: an absolute path").get();
        if (!fs::path(text).is_absolute()) {
            fail(ConfigErrc::invalid_value, node,
                 fmt::format("{} must be an absolute path, not \"{}\"", key, text));
        }
        return text;
    }

    unsigned read_reactors(const toml::node& node) const {
        constexpr std::string_view range = "a whole number from 0 (one per online CPU) to 256";
        const std::int64_t value = expect<std::int64_t>(node, "reactors", range).get();
        if (value < 0 || value > max_reactors) {
            fail(ConfigErrc::invalid_value, node,
                 fmt::format("reactors is {}; it must be {}", value, range));
        }
        return static_cast<unsigned>(value);
    }

    std::vector<ListenAddress> read_listen(const toml::table& listen) const {
        for (const auto& [key, node] : listen) {
            if (key != "unix" && key != "tcp") {
                unknown_key(node, fmt::format("listen.{}", key.str()),
                            "[listen] takes unix and tcp");
            }
        }
        // Tables iterate in key order; unix sockets first, as the file shows them.
        std::vector<ListenAddress> listeners;
        if (const toml::node* unix_paths = listen.get("unix")) {
            read_addresses(*unix_paths, "listen.unix", "an absolute socket path",
                           "[\"/run/hostcrypt/nbd.sock\"]", parse_unix_address, listeners);
        }
        if (const toml::node* tcp_addresses = listen.get("tcp")) {
            read_addresses(*tcp_addresses, "listen.tcp", "HOST:PORT, [IPV6]:PORT or PORT",
                           "[\"127.0.0.1:10809\"]", parse_tcp_address, listeners);
        }
        if (listeners.empty()) {
            fail(ConfigErrc::invalid_value, listen,
                 fmt::format("[listen] names no listener; give a unix path or a tcp address, "
                             "or leave [listen] out for the default ({})",
                             default_listener().to_string()));
        }
        return listeners;
    }

    void read_addresses(const toml::node& node, std::string_view key, std::string_view element,
                        std::string_view example, ListenAddress (*parse)(std::string_view),
                        std::vector<ListenAddress>& listeners) const {
        const auto& array =
            expect<toml::array>(node, key, fmt::format("an array of strings, like {}", example));
        for (std::size_t i = 0; i < array.size(); ++i) {
            const std::string name = fmt::format("{}[{}]", key, i);
            const std::string& text =
                expect<std::string>(array[i], name, fmt::format("a string: {}", element)).get();
            try {
                listeners.push_back(parse(text));
            } catch (const ConfigError& error) {
                fail(error.code(), array[i], fmt::format("{}: {}", name, error.what()));
            }
            if (std::count(listeners.begin(), listeners.end(), listeners.back()) > 1) {
                fail(ConfigErrc::invalid_value, array[i],
                     fmt::format("{}: {} is listed twice", name, listeners.back().to_string()));
            }
        }
    }

    void read_storage(const toml::table& storage, DaemonConfig& config) const {
        for (const auto& [key, node] : storage) {
            if (key == "direct_io") {
                config.direct_io = expect<bool>(node, "storage.direct_io", "true or false").get();
            } else if (key == "read_only") {
                config.read_only = expect<bool>(node, "storage.read_only", "true or false").get();
            } else if (key == "temp_directory") {
                config.temp_directory = read_absolute_path(node, "storage.temp_directory");
            } else if (key == "cache_directory") {
                config.cache_directory = read_absolute_path(node, "storage.cache_directory");
            } else {
                unknown_key(node, fmt::format("storage.{}", key.str()),
                            "[storage] takes direct_io, read_only, temp_directory and "
                            "cache_directory");
            }
        }
    }

    void read_keys(const toml::table& keys, DaemonConfig& config) const {
        KeyMonitorConfig& monitor = config.key_monitor;
        for (const auto& [key, node] : keys) {
            if (key == "platform_key_max_age") {
                config.platform_key_max_age = read_max_age(node);
            } else if (key == "check_interval") {
                monitor.check_interval = read_duration(node, "keys.check_interval");
            } else if (key == "revocation_grace") {
                monitor.revocation_grace = read_duration(node, "keys.revocation_grace");
            } else if (key == "unreachable_tolerance") {
                monitor.unreachable_tolerance = read_duration(node, "keys.unreachable_tolerance");
            } else {
                unknown_key(node, fmt::format("keys.{}", key.str()),
                            "[keys] takes platform_key_max_age, check_interval, "
                            "revocation_grace and unreachable_tolerance");
            }
        }
    }

    std::chrono::seconds read_duration(const toml::node& node, std::string_view key) const {
        const std::string& text =
            expect<std::string>(node, key, "a string: a duration like \"60s\" or \"1h\"").get();
        try {
            return parse_duration(text);
        } catch (const Error& error) {
            fail(ConfigErrc::invalid_value, node, fmt::format("{}: {}", key, error.what()));
        }
    }

    void read_control(const toml::table& control, ControlConfig& config) const {
        for (const auto& [key, node] : control) {
            if (key == "socket") {
                const std::string& text =
                    expect<std::string>(node, "control.socket", "a string: an absolute path").get();
                config.socket =
                    checked(node, "control.socket", [&] { return parse_unix_address(text).path; });
            } else if (key == "group") {
                const std::string& text =
                    expect<std::string>(node, "control.group", "a string: a group name").get();
                config.socket_group = checked(node, "control.group", [&] {
                    return parse_principal(text.find(':') == std::string::npos ? "group:" + text
                                                                               : text);
                });
                if (config.socket_group->kind != Principal::Kind::group) {
                    fail(ConfigErrc::invalid_value, node, "control.group must name a group");
                }
            } else if (key == "roles") {
                config.grants = read_roles(expect<toml::table>(node, "control.roles", "a table"));
            } else {
                unknown_key(node, fmt::format("control.{}", key.str()),
                            "[control] takes socket, group and the table [control.roles]");
            }
        }
    }

    std::vector<RoleGrant> read_roles(const toml::table& roles) const {
        std::vector<RoleGrant> grants;
        for (const auto& [key, node] : roles) {
            const std::string name = fmt::format("control.roles.{}", key.str());
            std::string role_name(key.str());
            std::replace(role_name.begin(), role_name.end(), '_', '-');
            const std::optional<control::Role> role = control::parse_role(role_name);
            if (!role) {
                unknown_key(node, name,
                            "[control.roles] takes reader, operator and crypto_officer");
            }
            const auto& array = expect<toml::array>(
                node, name, "an array of principals, like [\"group:hostcrypt\"]");
            for (std::size_t i = 0; i < array.size(); ++i) {
                const std::string element = fmt::format("{}[{}]", name, i);
                const std::string& text =
                    expect<std::string>(array[i], element, "a string: user:NAME or group:NAME")
                        .get();
                grants.push_back(
                    {*role, checked(array[i], element, [&] { return parse_principal(text); })});
            }
        }
        return grants;
    }

    // Runs a parser that throws ConfigError and reports its error at `node`.
    template <typename Parse>
    auto checked(const toml::node& node, std::string_view key, Parse&& parse) const
        -> decltype(parse()) {
        try {
            return parse();
        } catch (const ConfigError& error) {
            fail(error.code(), node, fmt::format("{}: {}", key, error.what()));
        }
    }

    std::optional<std::chrono::seconds> read_max_age(const toml::node& node) const {
        constexpr std::string_view key = "keys.platform_key_max_age";
        const std::string& text =
            expect<std::string>(node, key, "a string: a duration like \"90d\", or \"off\"").get();
        if (text == "off") {
            return std::nullopt;
        }
        try {
            return parse_duration(text);
        } catch (const Error& error) {
            fail(ConfigErrc::invalid_value, node,
                 fmt::format("{}: {}, or \"off\" to never rotate", key, error.what()));
        }
    }

    std::string_view source_;
};

}  // namespace

DaemonConfig parse_config(std::string_view toml_text, std::string_view source_name) {
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& error) {
        throw ConfigError(
            ConfigErrc::syntax,
            fmt::format("{}:{}:{}: not valid TOML: {}", source_name, error.source().begin.line,
                        error.source().begin.column, error.description()));
    }
    DaemonConfig config;
    FileReader(source_name).read_root(root, config);
    if (config.listeners.empty()) {
        config.listeners.push_back(default_listener());
    }
    return config;
}

DaemonConfig load_config_file(const fs::path& file) {
    std::error_code ignored;  // any other trouble is reported by the read below
    if (fs::status(file, ignored).type() == fs::file_type::not_found) {
        throw ConfigError(ConfigErrc::not_found,
                          fmt::format("config file {} does not exist", file.string()));
    }
    std::string text;
    try {
        text = read_text_file(file);
    } catch (const Error& error) {
        throw ConfigError(ConfigErrc::unreadable, fmt::format("config file: {}", error.what()));
    }
    DaemonConfig config = parse_config(text, file.string());
    config.config_file = file;
    return config;
}

}  // namespace hostcrypt::daemon
