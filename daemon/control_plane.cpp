#include "daemon/control_plane.hpp"

#include <cerrno>
#include <cstring>
#include <set>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/duration.hpp"
#include "common/files.hpp"
#include "control/control_client.hpp"
#include "control/control_error.hpp"
#include "control/exit_codes.hpp"
#include "control/json_rpc.hpp"
#include "control/methods.hpp"
#include "daemon/log.hpp"
#include "daemon/notify.hpp"
#include "disk/dek_id.hpp"
#include "disk/disk_keys.hpp"
#include "disk/header_slots.hpp"
#include "disk/rotation.hpp"

#ifndef HOSTCRYPT_VERSION
#define HOSTCRYPT_VERSION "unknown"
#endif

namespace hostcrypt::daemon {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Who the vault audit log names for what the daemon does on its own
// (unwraps at start, key checks, rotation by age).
constexpr const char* daemon_actor = "hostcryptd";
// The offline tool holds the state directory's lock for one command.
constexpr std::chrono::seconds state_lock_wait{10};
constexpr std::chrono::hours platform_check_interval{1};

json duration_json(std::chrono::seconds value) {
    return format_duration(value);
}

}  // namespace

ControlPlane::ControlPlane(const DaemonConfig& config, Server& server)
    : config_(config),
      server_(server),
      state_(config.state_directory, daemon_actor, state_lock_wait),
      audit_(config.state_directory / "control-audit.log"),
      monitor_(config.key_monitor),
      exports_(config_, server, state_.providers()),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      started_(system_now()) {
    if (!wake_fd_) {
        throw Error(fmt::format("eventfd: {}", std::strerror(errno)));
    }
    // Rotation, offline too, must know where this daemon keeps host caches.
    state_.record_cache_directory(config_.cache_directory_in_use());
}

ControlPlane::~ControlPlane() {
    stop();
}

void ControlPlane::load_catalog() {
    apply_plan();
}

std::map<std::string, std::string> ControlPlane::apply_plan() {
    std::map<std::string, std::string> unreadable;
    const std::vector<instance::InstanceRecord> instances = state_.instances().readable(unreadable);
    instance::ServingPlan plan = instance::plan_exports(state_.catalog().list(), instances);
    for (const auto& [name, why] : unreadable) {
        plan.problems[instance::export_name(name, "*")] = why;
    }
    std::map<std::string, std::string> unserved = exports_.apply(plan);
    std::erase_if(key_states_, [&](const auto& item) { return !server_.disk(item.first); });
    return unserved;
}

void ControlPlane::start() {
    control_server_.emplace(config_.control.socket, config_.control.socket_group,
                            [this](const PeerCredentials& caller, std::string_view line) {
                                return handle(caller, line);
                            });
    const json record{{"pid", ::getpid()},
                      {"control_socket", config_.control.socket.string()},
                      {"started", format_utc(started_)}};
    write_text_file_atomically(control::daemon_record_path(config_.state_directory),
                               record.dump(2) + "\n", 0600);
    next_key_check_ = Clock::now() + monitor_.check_interval;
    next_platform_check_ = Clock::now();
    thread_ = std::thread([this] { run(); });
}

void ControlPlane::wake() noexcept {
    const std::uint64_t one = 1;
    // A full counter already means "wake up": nothing is lost if this fails.
    [[maybe_unused]] const ssize_t written = ::write(wake_fd_.get(), &one, sizeof one);
}

void ControlPlane::request_reload() {
    reload_requested_.store(true);
    wake();
}

void ControlPlane::stop() {
    if (!thread_.joinable()) {
        return;
    }
    stop_requested_.store(true);
    wake();
    thread_.join();
    control_server_.reset();
    std::error_code ignored;  // a record left behind only points at a dead socket
    fs::remove(control::daemon_record_path(config_.state_directory), ignored);
}

void ControlPlane::run() {
    while (!stop_requested_.load()) {
        // One request at most, then the due work below: a caller cannot
        // hold off key checks or shutdown by sending many requests.
        auto next = std::min(next_key_check_, next_platform_check_);
        if (temporary_until_) {
            next = std::min(next, temporary_end_);
        }
        try {
            control_server_->serve_once(next, wake_fd_.get());
        } catch (const std::exception& error) {
            log("control socket failed, control calls are not answered: {}", error.what());
            std::this_thread::sleep_until(std::min(next, Clock::now() + std::chrono::seconds(1)));
        }
        std::uint64_t count = 0;  // non-blocking: EAGAIN when nobody woke us
        [[maybe_unused]] const ssize_t drained = ::read(wake_fd_.get(), &count, sizeof count);
        if (reload_requested_.exchange(false)) {
            reload();
        }
        if (temporary_until_ && Clock::now() >= temporary_end_) {
            end_temporary_monitor_settings();
        }
        if (check_requested_ || Clock::now() >= next_key_check_) {
            check_requested_ = false;
            check_keys();
            next_key_check_ = Clock::now() + monitor_.check_interval;
        }
        if (Clock::now() >= next_platform_check_) {
            rotate_platform_key_if_due();
            next_platform_check_ = Clock::now() + platform_check_interval;
        }
    }
}

std::string ControlPlane::handle(const PeerCredentials& caller, std::string_view line) {
    auto parsed = control::parse_request(line);
    if (auto* bad = std::get_if<control::RpcRequestError>(&parsed)) {
        log("control socket: {}: malformed request: {}", describe(caller), bad->message);
        return control::error_response(bad->id, bad->code, bad->message, "invalid-request");
    }
    const control::RpcRequest& request = std::get<control::RpcRequest>(parsed);
    const control::Method* method = control::find_method(request.method);
    if (method == nullptr) {
        audit_.record(caller, request.method, request.params, "failed", "no such method");
        return control::error_response(request.id, control::rpc_method_not_found,
                                       fmt::format("no method {}", request.method),
                                       "method-not-found");
    }
    if (!roles_of(caller, config_.control.grants).allows(method->role)) {
        const std::string message =
            fmt::format("{} may not call {}: it needs the {} role", describe(caller),
                        request.method, control::to_string(method->role));
        audit_.record(caller, request.method, request.params, "refused", message);
        log("control: refused: {}", message);
        return control::error_response(request.id, control::exit_unauthorized, message,
                                       "unauthorized");
    }
    if (method->role != control::Role::reader &&
        !audit_.record(caller, request.method, request.params, "started")) {
        return control::error_response(request.id, control::exit_failed,
                                       "the control audit log cannot be written; nothing done",
                                       "failed");
    }
    state_.providers().set_actor(describe(caller) + " via hostcryptd");
    std::string response;
    try {
        control::CallContext call{state_, this, {}, is_privileged(caller)};
        const json result = control::invoke(*method, call, request.params);
        audit_.record(caller, request.method, request.params, "ok");
        response = control::result_response(request.id, result);
    } catch (const std::exception& error) {
        const control::ErrorClass error_class = control::classify(error);
        audit_.record(caller, request.method, request.params, "failed", error.what());
        response =
            control::error_response(request.id, error_class.code, error.what(), error_class.kind);
    }
    state_.providers().set_actor(daemon_actor);
    return response;
}

std::string ControlPlane::disk_created(const disk::CatalogEntry& entry) {
    const std::map<std::string, std::string> unserved = apply_plan();
    const auto found = unserved.find(entry.name);
    return found == unserved.end() ? std::string() : found->second;
}

void ControlPlane::disk_deleting(const std::string& name) {
    exports_releasing({name});
    log("disk {}: no longer served: it is being deleted", name);
}

std::map<std::string, std::string> ControlPlane::serving_changed() {
    return apply_plan();
}

void ControlPlane::exports_releasing(const std::vector<std::string>& exports) {
    std::string busy;
    if (!exports_.release(exports, busy)) {
        const auto served = server_.disk(busy);
        const std::uint64_t connections =
            served ? disk::DiskCounters::read(served->counters().connections) : 0;
        throw control::ControlError(
            control::exit_refused, "refused",
            fmt::format("{} is in use by {} connection(s); disconnect them first", busy,
                        connections));
    }
    // Their key states stay: serving_changed() follows, and drops those of
    // exports that are gone, keeping those offered again.
}

void ControlPlane::keys_changed() {
    check_requested_ = true;
    wake();  // the check runs as soon as this call is answered
}

void ControlPlane::reload() {
    log("reloading the catalog");
    try {
        apply_plan();
    } catch (const std::exception& error) {
        log("reload failed, still serving what was loaded before: {}", error.what());
    }
    log("serving {} export(s)", server_.disks().size());
    if (const std::error_code error =
            notify_ready(fmt::format("serving {} export(s) (reloaded)", server_.disks().size()))) {
        log("warning: cannot notify systemd: {}", error.message());
    }
}

void ControlPlane::check_keys() {
    const CheckTime now = CheckTime::now();
    last_key_check_ = now.wall;
    for (const auto& served : server_.disks()) {
        if (served->persisted() == nullptr) {
            continue;  // a temp disk: under the platform key, never revoked
        }
        try {
            check_disk(served, now);
        } catch (const std::exception& error) {
            log("disk {}: key check failed (retried at the next check): {}", served->name(),
                error.what());
        }
    }
    exports_.retry_unserved([this](const disk::CatalogEntry& entry) {
        try {
            const disk::DiskHeader header = disk::read_newest_header(entry);
            for (const keys::KeyHealth& layer : disk::disk_key_health(header, state_.providers())) {
                if (!layer.usable()) {
                    return layer.reason;
                }
            }
            return std::string();
        } catch (const std::exception& error) {
            return std::string(error.what());
        }
    });
    exports_.rewrap_temp_disks();
}

void ControlPlane::check_disk(const std::shared_ptr<disk::ServedDisk>& served, CheckTime now) {
    // The header as it is now (rotation may have re-wrapped the DEKs since the
    // disk was opened), through the disk's own descriptor. A header that
    // cannot be read is not a reason to keep serving forever: it counts as
    // an unreachable provider, tolerated for a while, then revoked.
    std::optional<disk::DiskHeader> header;
    std::vector<keys::KeyHealth> layers;
    try {
        header = served->persisted()->read_current_header();
        layers = disk::disk_key_health(*header, state_.providers());
    } catch (const std::exception& error) {
        layers = {{keys::KeyState::unreachable,
                   fmt::format("the disk's header cannot be read: {}", error.what())}};
    }
    DiskKeyState& state = key_states_[served->name()];
    const KeyStatus before = state.status;
    const KeyAction action = observe_keys(state, layers, now, monitor_);
    switch (action) {
        case KeyAction::revoke:
            served->keys().revoke(state.reason);
            server_.refresh_ciphers();
            log("disk {}: keys revoked, every request fails with EIO until the key is usable "
                "again: {}",
                served->name(), state.reason);
            return;
        case KeyAction::restore:
            try {
                disk::DiskKeys keys =
                    disk::unwrap_disk_keys(*header, state_.providers(), served->name());
                // The host cache's keys come back with the disk's: its dirty
                // data is written back from here on.
                if (const disk::HostCache* cache = served->cache()) {
                    keys.cache_deks = disk::unwrap_disk_keys(cache->header(), state_.providers(),
                                                             served->name() + " (host cache)")
                                          .deks;
                }
                served->keys().install(std::make_shared<const disk::DiskKeys>(std::move(keys)));
                server_.refresh_ciphers();
                state = DiskKeyState{};
                log("disk {}: keys usable again, serving", served->name());
            } catch (const std::exception& error) {
                restore_failed(state, error.what());
                log("disk {}: still revoked: {}", served->name(), state.reason);
            }
            return;
        case KeyAction::none:
            break;
    }
    if (disk::HostCache* cache = served->cache(); cache != nullptr && header) {
        try {
            if (cache->follow_disk_keys(*header, state_.providers())) {
                log("disk {}: host cache keys re-wrapped to follow the disk's", served->name());
            }
        } catch (const std::exception& error) {
            log("disk {}: host cache keys not re-wrapped (retried at the next check): {}",
                served->name(), error.what());
        }
    }
    if (state.status != before) {
        if (state.status == KeyStatus::serving) {
            log("disk {}: keys usable again before the deadline, nothing was interrupted",
                served->name());
        } else {
            log("disk {}: {} until {}: {}", served->name(), to_string(state.status),
                format_utc(*state.deadline), state.reason);
        }
    }
}

void ControlPlane::rotate_platform_key_if_due() {
    if (!config_.platform_key_max_age) {
        return;
    }
    try {
        disk::Rotation rotation = state_.rotation();
        const disk::PlatformRotation outcome =
            rotation.rotate_platform_key(config_.platform_key_max_age);
        if (outcome.added) {
            log("platform key: the newest version was older than {}: rotated to version {}",
                format_duration(*config_.platform_key_max_age), outcome.added->version);
        }
        for (const disk::RewrapOutcome& disk : outcome.rewrapped) {
            if (!disk.error.empty()) {
                log("disk {}: platform layer not re-wrapped (retried later): {}", disk.disk,
                    disk.error);
            } else if (disk.changed) {
                log("disk {}: platform layer re-wrapped under version {}", disk.disk,
                    outcome.newest.version);
            }
        }
        for (const std::uint32_t version : outcome.removed) {
            log("platform key: version {} deleted, no disk uses it any more", version);
        }
        exports_.rewrap_temp_disks();
    } catch (const std::exception& error) {
        log("platform key rotation failed (retried later): {}", error.what());
    }
}

json ControlPlane::monitor_view() const {
    return {
        {"interval", duration_json(monitor_.check_interval)},
        {"grace", duration_json(monitor_.revocation_grace)},
        {"unreachable_tolerance", duration_json(monitor_.unreachable_tolerance)},
        {"temporary_until", temporary_until_ ? json(format_utc(*temporary_until_)) : json(nullptr)},
        {"last_check", last_key_check_ ? json(format_utc(*last_key_check_)) : json(nullptr)}};
}

namespace {

// A host cache's settings, statistics and keys: the key that wraps each
// layer's DEK and, while the keys are in memory, the DEKs' ids.
json cache_view(const disk::HostCache& cache, const disk::DiskKeys* keys) {
    const disk::CacheStats stats = cache.stats();
    json layers = json::array();
    const std::vector<disk::CipherLayer>& header_layers = cache.header().layers;
    for (std::size_t i = 0; i < header_layers.size(); ++i) {
        const bool in_memory = keys != nullptr && i < keys->cache_deks.size();
        layers.push_back(
            {{"wrapped_by", header_layers[i].kek},
             {"dek_id", in_memory ? json(disk::dek_id(keys->cache_deks[i])) : json(nullptr)}});
    }
    json view{{"mode", disk::to_string(stats.mode)},
              {"size", stats.size},
              {"file", stats.file},
              {"used_bytes", stats.used_bytes},
              {"dirty_bytes", stats.dirty_bytes},
              {"hits", stats.hits},
              {"misses", stats.misses},
              {"written_back_bytes", stats.written_back_bytes},
              {"writeback_rate", static_cast<std::uint64_t>(stats.write_back_rate)},
              {"layers", std::move(layers)}};
    if (!stats.problem.empty()) {
        view["problem"] = stats.problem;
    }
    return view;
}

}  // namespace

json ControlPlane::export_view(disk::ServedDisk& served) const {
    using Counters = disk::DiskCounters;
    const disk::DiskCounters& counters = served.counters();
    json view{{"tier", disk::to_string(served.tier())},
              {"connections", Counters::read(counters.connections)},
              {"reads", Counters::read(counters.reads)},
              {"writes", Counters::read(counters.writes)},
              {"bytes_read", Counters::read(counters.bytes_read)},
              {"bytes_written", Counters::read(counters.bytes_written)},
              {"errors", Counters::read(counters.errors)}};
    const instance::PlannedExport* planned = exports_.served_as(served.name());
    view["instance"] =
        planned != nullptr && !planned->instance.empty() ? json(planned->instance) : json(nullptr);
    if (served.persisted() != nullptr) {
        view["disk"] = served.persisted()->entry().name;
    }
    // Ids of the keys in memory now: none while revoked.
    json ids = json::array();
    if (const auto keys = served.keys().snapshot().keys) {
        for (const crypto::SecureBytes& dek : keys->deks) {
            ids.push_back(disk::dek_id(dek));
        }
    }
    view["dek_ids"] = ids;
    if (disk::HostCache* cache = served.cache()) {
        view["cache"] = cache_view(*cache, served.keys().snapshot().keys.get());
    }
    if (const disk::TempDisk* temp = exports_.temp_disk(served.name())) {
        view["wrapped_by"] = temp->wrapped_by();
        view["size"] = served.size();
        view["sector_size"] = served.sector_size();
    }
    return view;
}

json ControlPlane::live_status() {
    json listeners = json::array();
    for (const ListenAddress& address : config_.listeners) {
        listeners.push_back(address.to_string());
    }
    json disks = json::object();
    for (const auto& served : server_.disks()) {
        json view = export_view(*served);
        const auto found = key_states_.find(served->name());
        const DiskKeyState state = found != key_states_.end() ? found->second : DiskKeyState{};
        json key_status{{"state", to_string(state.status)},
                        {"since", state.since ? json(format_utc(*state.since)) : json(nullptr)},
                        {"reason", state.reason}};
        if (state.status == KeyStatus::grace || state.status == KeyStatus::unreachable) {
            key_status["grace_ends"] = format_utc(*state.deadline);
        }
        view["key_status"] = key_status;
        disks[served->name()] = std::move(view);
    }
    for (const auto& [name, why] : exports_.unserved()) {
        json view{{"served", false}, {"not_served_because", why}};
        const auto planned = exports_.planned_unserved().find(name);
        if (planned != exports_.planned_unserved().end()) {
            view["tier"] = disk::to_string(planned->second.tier);
            if (planned->second.tier == disk::Tier::persisted) {
                view["disk"] = planned->second.disk.name;
            }
            view["instance"] =
                planned->second.instance.empty() ? json(nullptr) : json(planned->second.instance);
        }
        disks[name] = std::move(view);
    }
    return {{"daemon",
             {{"running", true},
              {"version", HOSTCRYPT_VERSION},
              {"pid", ::getpid()},
              {"started", format_utc(started_)},
              {"state_directory", config_.state_directory.string()},
              {"reactors", server_.reactor_count()},
              {"listeners", listeners},
              {"control_socket", config_.control.socket.string()},
              {"read_only", config_.read_only},
              {"lending", config_.lending},
              {"key_monitor", monitor_view()}}},
            {"disks", disks}};
}

json ControlPlane::configure_monitor(control::Params& params) {
    KeyMonitorConfig changed = monitor_;
    changed.check_interval = params.optional_duration("interval").value_or(monitor_.check_interval);
    changed.revocation_grace =
        params.optional_duration("grace").value_or(monitor_.revocation_grace);
    changed.unreachable_tolerance =
        params.optional_duration("unreachable_tolerance").value_or(monitor_.unreachable_tolerance);
    const std::optional<std::chrono::seconds> lasting = params.optional_duration("for");
    params.finish();
    if (lasting && temporary_until_) {
        throw control::ControlError(
            control::exit_refused, "refused",
            fmt::format("temporary key monitor settings (a drill's) are in force until {}; "
                        "one drill at a time",
                        format_utc(*temporary_until_)));
    }
    json previous = monitor_view();
    previous.erase("last_check");
    if (lasting) {
        settings_after_temporary_ = monitor_;
    }
    monitor_ = changed;
    // Temporary settings end on their own, so that a drill that dies
    // half-way cannot leave every disk with a drill's grace period.
    temporary_until_.reset();
    if (lasting) {
        temporary_until_ = system_now() + *lasting;  // for people
        temporary_end_ = Clock::now() + *lasting;    // for the loop: immune to clock jumps
    }
    next_key_check_ = Clock::now();  // the new interval counts from now
    log("key monitor: checks every {}, grace {}, unreachable tolerance {}{}",
        format_duration(monitor_.check_interval), format_duration(monitor_.revocation_grace),
        format_duration(monitor_.unreachable_tolerance),
        lasting ? fmt::format(", until {}", format_utc(*temporary_until_)) : "");
    json result = monitor_view();
    result["previous"] = previous;
    return result;
}

void ControlPlane::end_temporary_monitor_settings() {
    temporary_until_.reset();
    monitor_ = settings_after_temporary_;
    next_key_check_ = Clock::now();
    log("key monitor: temporary settings expired; back to checks every {}, grace {}, "
        "unreachable tolerance {}",
        format_duration(monitor_.check_interval), format_duration(monitor_.revocation_grace),
        format_duration(monitor_.unreachable_tolerance));
}

}  // namespace hostcrypt::daemon
