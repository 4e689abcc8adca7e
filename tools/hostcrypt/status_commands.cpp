// hostcrypt status

#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.hpp"
#include "keys/key_ref.hpp"
#include "text.hpp"

namespace hostcrypt::tools {

namespace {

using nlohmann::json;

std::string key_versions(const json& disk) {
    std::vector<std::string> refs;
    for (const json& layer : disk.at("layers")) {
        refs.push_back(keys::to_string(layer.at("kek").get<keys::KeyRef>()));
    }
    return fmt::format("{}", fmt::join(refs, " + "));
}

// "serving", "GRACE until ...", "REVOKED since ..."; offline, the health of
// the keys right now.
std::string key_state(const json& disk) {
    if (disk.contains("key_status")) {
        const json& status = disk.at("key_status");
        const std::string state = status.at("state");
        if (state == "serving") {
            return state;
        }
        if (state == "grace") {
            return fmt::format("GRACE until {}", status.at("grace_ends").get<std::string>());
        }
        return fmt::format("{} since {}", state == "revoked" ? "REVOKED" : state,
                           status.at("since").get<std::string>());
    }
    if (disk.contains("served") && !disk.at("served").get<bool>()) {
        return "NOT SERVED";
    }
    return disk.at("health").at("usable").get<bool>() ? "keys usable" : "KEYS UNUSABLE";
}

std::string counter(const json& disk, const char* name, bool size) {
    if (!disk.contains(name)) {
        return "-";
    }
    const auto value = disk.at(name).get<std::uint64_t>();
    return size ? format_size(value) : std::to_string(value);
}

void print_daemon(const json& daemon) {
    if (!daemon.at("running").get<bool>()) {
        std::cout << "daemon: not running (state read offline)\n";
        return;
    }
    std::cout << fmt::format("daemon: hostcryptd {}, pid {}, up since {}, {} reactor(s)\n",
                             daemon.at("version").get<std::string>(), daemon.at("pid").get<long>(),
                             daemon.at("started").get<std::string>(),
                             daemon.at("reactors").get<unsigned>());
    std::cout << fmt::format(
        "listening: {}\n", fmt::join(daemon.at("listeners").get<std::vector<std::string>>(), ", "));
    const json& monitor = daemon.at("key_monitor");
    std::cout << fmt::format(
        "key monitor: checks every {}, grace {}, unreachable tolerance {}; last check {}\n",
        monitor.at("interval").get<std::string>(), monitor.at("grace").get<std::string>(),
        monitor.at("unreachable_tolerance").get<std::string>(),
        monitor.at("last_check").is_null() ? "not yet"
                                           : monitor.at("last_check").get<std::string>());
}

// The export a disk is served as; for a disk of an instance that is not
// served, the instance in brackets.
std::string export_of(const json& disk) {
    if (disk.contains("export")) {
        return disk.at("export").get<std::string>();
    }
    if (disk.contains("instance") && disk.at("instance").is_string()) {
        return fmt::format("({})", disk.at("instance").get<std::string>());
    }
    return "-";
}

void print_temp_disks(const json& temp_disks) {
    if (temp_disks.empty()) {
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const json& temp : temp_disks) {
        if (!temp.value("served", true)) {
            rows.push_back({temp.at("export"), "-", "NOT SERVED", "-", "-", "-", "-"});
            continue;
        }
        rows.push_back({temp.at("export"), format_size(temp.at("size")),
                        keys::to_string(temp.at("wrapped_by").get<keys::KeyRef>()),
                        counter(temp, "connections", false), counter(temp, "bytes_read", true),
                        counter(temp, "bytes_written", true), counter(temp, "errors", false)});
    }
    std::cout << "\ntemp disks (erased when their instance is deallocated or the daemon stops):\n";
    print_table({"EXPORT", "SIZE", "DEK WRAPPED BY", "CONN", "READ", "WRITTEN", "ERRORS"}, rows);
}

// Host caches: what they hold, how often reads found what they wanted, and
// how much of what clients wrote is still only in the cache.
void print_caches(const json& disks) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> notes;
    for (const json& disk : disks) {
        if (!disk.contains("cache") || !disk.at("cache").is_object()) {
            continue;
        }
        const json& cache = disk.at("cache");
        const auto hits = cache.at("hits").get<std::uint64_t>();
        const auto misses = cache.at("misses").get<std::uint64_t>();
        const std::string hit_rate =
            hits + misses == 0 ? "-"
                               : fmt::format("{:.1f}%", 100.0 * static_cast<double>(hits) /
                                                            static_cast<double>(hits + misses));
        rows.push_back({disk.at("name"), cache.at("mode"), format_size(cache.at("size")),
                        format_size(cache.at("used_bytes")), hit_rate, std::to_string(hits),
                        std::to_string(misses), format_size(cache.at("dirty_bytes")),
                        format_size(cache.at("written_back_bytes")),
                        format_size(cache.at("writeback_rate")) + "/s"});
        if (cache.contains("problem")) {
            notes.push_back(fmt::format("{}: write-back: {}", disk.at("name").get<std::string>(),
                                        cache.at("problem").get<std::string>()));
        }
    }
    if (rows.empty()) {
        return;
    }
    std::cout << "\nhost caches (sectors counted; dirty: written by clients, not yet on the "
                 "disk):\n";
    print_table({"DISK", "MODE", "SIZE", "USED", "HIT RATE", "HITS", "MISSES", "DIRTY",
                 "WRITTEN BACK", "WRITE-BACK RATE"},
                rows);
    for (const std::string& note : notes) {
        std::cout << note << '\n';
    }
}

void print_status(const json& status) {
    print_daemon(status.at("daemon"));
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> notes;
    for (const json& disk : status.at("disks")) {
        const std::string name = disk.at("name");
        if (disk.contains("error")) {
            rows.push_back({name, "?", "?", "?", "?", "UNREADABLE", "-", "-", "-", "-"});
            notes.push_back(fmt::format("{}: {}", name, disk.at("error").get<std::string>()));
            continue;
        }
        rows.push_back({name, export_of(disk), disk.at("type"), format_size(disk.at("size")),
                        key_versions(disk), key_state(disk), counter(disk, "connections", false),
                        counter(disk, "bytes_read", true), counter(disk, "bytes_written", true),
                        counter(disk, "errors", false)});
        if (disk.contains("key_status") &&
            !disk.at("key_status").at("reason").get<std::string>().empty()) {
            notes.push_back(
                fmt::format("{}: {}", name, disk.at("key_status").at("reason").get<std::string>()));
        } else if (disk.contains("not_served_because")) {
            notes.push_back(
                fmt::format("{}: {}", name, disk.at("not_served_because").get<std::string>()));
        } else {
            for (const json& layer : disk.at("health").at("layers")) {
                if (layer.at("state") != "usable") {
                    notes.push_back(
                        fmt::format("{}: {}", name, layer.at("reason").get<std::string>()));
                }
            }
        }
    }
    print_table({"DISK", "EXPORT", "TYPE", "SIZE", "KEYS", "KEY STATE", "CONN", "READ", "WRITTEN",
                 "ERRORS"},
                rows);
    for (const std::string& note : notes) {
        std::cout << note << '\n';
    }
    print_caches(status.at("disks"));
    print_temp_disks(status.at("temp_disks"));
}

}  // namespace

void add_status_commands(CLI::App& app, Context& context) {
    app.add_subcommand("status",
                       "every disk: type, size, key versions, key state, connections, traffic")
        ->callback([&context] { context.emit(context.call("status"), print_status); });
}

}  // namespace hostcrypt::tools
