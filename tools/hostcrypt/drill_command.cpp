// hostcrypt drill DISK: a customer-key revocation drill against a running
// hostcryptd. It checksums the disk over NBD, shortens the key monitor's
// interval and grace, disables the disk's customer key, reads until I/O
// fails, enables the key, reads until I/O succeeds on the same connection,
// checksums again and prints the timeline. Reads only: a drill never
// changes the disk's data. Whatever happens, the key is enabled again and
// the monitor's settings restored before the command ends.

#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "common/duration.hpp"
#include "common/hex.hpp"
#include "control/control_error.hpp"
#include "crypto/digest.hpp"
#include "exit_codes.hpp"
#include "keys/key_ref.hpp"
#include "nbd_client.hpp"
#include "text.hpp"

namespace hostcrypt::tools {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto probe_period = std::chrono::milliseconds(100);
// How long past grace + interval the drill waits for the daemon to act.
constexpr auto slack = std::chrono::seconds(30);

// Set by SIGINT, SIGTERM or SIGHUP: the drill stops where it is and cleans up.
volatile std::sig_atomic_t interrupted = 0;

void on_signal(int) {
    interrupted = 1;
}

// While it lives, those signals interrupt the drill instead of killing it.
class InterruptGuard {
  public:
    InterruptGuard() {
        struct sigaction action {};
        action.sa_handler = on_signal;
        sigemptyset(&action.sa_mask);
        for (std::size_t i = 0; i < std::size(signals_); ++i) {
            ::sigaction(signals_[i], &action, &previous_[i]);
        }
    }
    ~InterruptGuard() {
        for (std::size_t i = 0; i < std::size(signals_); ++i) {
            ::sigaction(signals_[i], &previous_[i], nullptr);
        }
    }
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;

    static void check() {
        if (interrupted != 0) {
            throw Error("interrupted");
        }
    }

  private:
    static constexpr int signals_[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction previous_[std::size(signals_)]{};
};

struct Arguments {
    std::string disk;
    std::string grace = "10s";
    std::string interval = "1s";
    std::string nbd_socket;
};

struct Target {
    json disk;
    std::string vault;
    std::string key;
    std::filesystem::path socket;
};

json find_disk(const json& status, const std::string& name) {
    for (const json& disk : status.at("disks")) {
        if (disk.at("name") == name) {
            return disk;
        }
    }
    throw control::ControlError(exit_not_found, "not-found", fmt::format("no disk {}", name));
}

Target find_target(Context& context, const Arguments& arguments) {
    if (!context.via_daemon()) {
        throw control::ControlError(exit_unavailable, "daemon-not-running",
                                    "a drill needs a running hostcryptd serving the disk");
    }
    const json status = context.call("status");
    Target target{find_disk(status, arguments.disk), {}, {}, arguments.nbd_socket};
    if (!target.disk.value("served", false) ||
        target.disk.at("key_status").at("state") != "serving") {
        throw control::ControlError(exit_refused, "refused",
                                    fmt::format("disk {} is not being served normally; check "
                                                "`hostcrypt status` first",
                                                arguments.disk));
    }
    for (const json& layer : target.disk.at("layers")) {
        const auto kek = layer.at("kek").get<keys::KeyRef>();
        if (kek.provider.starts_with("vault:")) {
            target.vault = kek.provider.substr(6);
            target.key = kek.name;
        }
    }
    if (target.key.empty()) {
        throw control::ControlError(
            exit_usage, "usage",
            fmt::format("disk {} is protected by the platform key only: a revocation drill needs "
                        "a customer-managed key (a customer or double disk)",
                        arguments.disk));
    }
    if (target.socket.empty()) {
        for (const json& listener : status.at("daemon").at("listeners")) {
            const std::string text = listener;
            if (text.starts_with("unix:")) {
                target.socket = text.substr(5);
                break;
            }
        }
    }
    if (target.socket.empty()) {
        throw control::ControlError(exit_usage, "usage",
                                    "the daemon has no unix NBD listener; name one with --nbd");
    }
    return target;
}

std::string checksum(NbdClient& nbd) {
    crypto::Sha256 digest;
    std::vector<std::byte> block(1 << 20);
    const std::uint64_t size = nbd.size();
    for (std::uint64_t offset = 0; offset < size; offset += block.size()) {
        InterruptGuard::check();
        const std::span<std::byte> part(block.data(),
                                        std::min<std::uint64_t>(block.size(), size - offset));
        if (const auto error = nbd.read(part, offset)) {
            throw Error(fmt::format("reading the disk for its checksum failed: {}", *error));
        }
        digest.update(part);
    }
    const crypto::Sha256Digest value = digest.finish();
    return "sha256:" + to_hex(value);
}

// Reads one block every probe_period until the outcome is `want_failure`;
// returns the error seen (or "") — nullopt if `deadline` passes first.
std::optional<std::string> probe_until(NbdClient& nbd, bool want_failure,
                                       Clock::time_point deadline) {
    std::vector<std::byte> block(4096);
    while (Clock::now() < deadline) {
        InterruptGuard::check();
        const std::optional<std::string> error = nbd.read(block, 0);
        if (error.has_value() == want_failure) {
            return error.value_or("");
        }
        std::this_thread::sleep_for(probe_period);
    }
    return std::nullopt;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Re-enables the key and restores the monitor unless dismissed: the drill
// must not leave a disk revoked because it failed halfway.
class Restorer {
  public:
    Restorer(Context& context, json key, json monitor)
        : context_(context), key_(std::move(key)), monitor_(std::move(monitor)) {}
    ~Restorer() {
        for (const auto& [method, params] :
             {std::pair{"vault.key.enable", key_}, std::pair{"monitor.configure", monitor_}}) {
            try {
                context_.call(method, params);
            } catch (const std::exception& error) {
                std::cerr << fmt::format("hostcrypt: drill clean-up: {} failed: {}\n", method,
                                         error.what());
            }
        }
    }
    Restorer(const Restorer&) = delete;
    Restorer& operator=(const Restorer&) = delete;

  private:
    Context& context_;
    json key_;
    json monitor_;
};

json run_drill(Context& context, const Arguments& arguments) {
    const InterruptGuard interrupt_guard;
    const Target target = find_target(context, arguments);
    const json key{{"vault", target.vault}, {"name", target.key}};
    if (!context.call("vault.key.show", key).at("enabled").get<bool>()) {
        throw control::ControlError(
            exit_refused, "refused",
            fmt::format("key {}/{} is disabled already", target.vault, target.key));
    }
    // A disk of an instance is served as "<instance>/<disk>".
    const std::string export_name = target.disk.value("export", arguments.disk);
    NbdClient nbd(target.socket, export_name);
    json result{
        {"disk", arguments.disk},         {"export", export_name},
        {"type", target.disk.at("type")}, {"key", fmt::format("{}/{}", target.vault, target.key)},
        {"grace", arguments.grace},       {"interval", arguments.interval}};
    result["checksum_before"] = checksum(nbd);

    const std::chrono::seconds grace = parse_duration(arguments.grace);
    const std::chrono::seconds interval = parse_duration(arguments.interval);
    // Temporary in the daemon too: if this process dies half-way, the daemon
    // restores its own settings by the time the drill would have ended.
    const json monitor = context.call("monitor.configure",
                                      {{"interval", arguments.interval},
                                       {"grace", arguments.grace},
                                       {"for", format_duration(grace + 4 * interval + 2 * slack)}});
    json timeline = json::array();
    {
        const json previous = monitor.at("previous");
        Restorer restorer(context, key,
                          {{"interval", previous.at("interval")},
                           {"grace", previous.at("grace")},
                           {"unreachable_tolerance", previous.at("unreachable_tolerance")}});
        const Clock::time_point start = Clock::now();
        context.call("vault.key.disable", key);
        timeline.push_back({{"at", 0.0}, {"event", "key disabled"}});
        const auto failed = probe_until(nbd, true, Clock::now() + grace + 2 * interval + slack);
        if (!failed) {
            throw Error(fmt::format("I/O did not fail within {} of disabling the key",
                                    format_duration(grace + 2 * interval + slack)));
        }
        timeline.push_back(
            {{"at", seconds_since(start)}, {"event", "first failed I/O"}, {"error", *failed}});
        context.call("vault.key.enable", key);
        timeline.push_back({{"at", seconds_since(start)}, {"event", "key enabled again"}});
        if (!probe_until(nbd, false, Clock::now() + 2 * interval + slack)) {
            throw Error("I/O did not come back after the key was enabled again");
        }
        timeline.push_back({{"at", seconds_since(start)}, {"event", "first successful I/O"}});
    }
    result["timeline"] = timeline;
    result["checksum_after"] = checksum(nbd);
    result["data_intact"] = result["checksum_after"] == result["checksum_before"];
    return result;
}

void print_drill(const json& result) {
    std::cout << fmt::format(
        "revocation drill on disk {} ({}), key {}, grace {}, check every {}\n",
        result.at("disk").get<std::string>(), result.at("type").get<std::string>(),
        result.at("key").get<std::string>(), result.at("grace").get<std::string>(),
        result.at("interval").get<std::string>());
    for (const json& event : result.at("timeline")) {
        std::string line =
            fmt::format("  {:<9} {}", fmt::format("T+{:.1f}s", event.at("at").get<double>()),
                        event.at("event").get<std::string>());
        if (event.contains("error")) {
            line += fmt::format(" ({})", event.at("error").get<std::string>());
        }
        std::cout << line << '\n';
    }
    std::cout << fmt::format("  checksum before  {}\n  checksum after   {}\n",
                             result.at("checksum_before").get<std::string>(),
                             result.at("checksum_after").get<std::string>());
    std::cout << (result.at("data_intact").get<bool>() ? "data verified: unchanged\n"
                                                       : "DATA CHANGED\n");
}

}  // namespace

void add_drill_command(CLI::App& app, Context& context) {
    auto arguments = std::make_shared<Arguments>();
    CLI::App* command = app.add_subcommand(
        "drill",
        "revocation drill: disable a disk's customer key, see I/O fail after the grace, "
        "enable it, see I/O recover, and verify the data");
    command->add_option("disk", arguments->disk, "a served customer or double disk")->required();
    command->add_option("--grace", arguments->grace, "grace period for the drill")
        ->capture_default_str();
    command->add_option("--interval", arguments->interval, "key check interval for the drill")
        ->capture_default_str();
    command->add_option("--nbd", arguments->nbd_socket,
                        "the daemon's NBD unix socket (default: its first unix listener)");
    command->callback([&context, arguments] {
        for (const std::string* text : {&arguments->grace, &arguments->interval}) {
            try {
                parse_duration(*text);
            } catch (const Error& error) {
                throw UsageError(error.what());
            }
        }
        const json result = run_drill(context, *arguments);
        context.emit(result, print_drill);
        if (!result.at("data_intact").get<bool>()) {
            context.exit_code = exit_failed;
        }
    });
}

}  // namespace hostcrypt::tools
