#pragma once

// hostcryptd's control plane: the owner of the state directory while the
// daemon runs. On its own thread it answers the control socket (every
// `hostcrypt` command, run in the daemon through lib/control's methods),
// watches the health of every key its disks use (revoking and restoring
// them by the policy of key_monitor.hpp), retries disks that could not be
// served, reloads on SIGHUP and rotates the platform key by age. The data
// plane (Server) learns of disks and key changes only from here.
//
// Thread safety: start(), request_reload() and stop() are for the main
// thread; everything else runs on the control thread.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"
#include "control/live_daemon.hpp"
#include "control/state_directory.hpp"
#include "daemon/config.hpp"
#include "daemon/control_audit.hpp"
#include "daemon/control_server.hpp"
#include "daemon/export_manager.hpp"
#include "daemon/key_monitor.hpp"
#include "daemon/server.hpp"

namespace hostcrypt::daemon {

class ControlPlane final : public control::LiveDaemon {
  public:
    // Locks the state directory (waiting a little for a `hostcrypt` command
    // to finish) and opens its key providers. Throws hostcrypt::Error.
    ControlPlane(const DaemonConfig& config, Server& server);
    ~ControlPlane() override;
    ControlPlane(const ControlPlane&) = delete;
    ControlPlane& operator=(const ControlPlane&) = delete;

    // Offers every export of the serving plan (every disk of no instance,
    // every allocated instance's disks and temp disk) that can be served;
    // the others are logged and retried at every key check. Call before the
    // listeners open.
    void load_catalog();
    // Binds the control socket, records it in <state>/daemon.json for the
    // command line, and starts the control thread. Throws hostcrypt::Error.
    void start();
    // SIGHUP: re-read the catalog and retry unserved disks (async).
    void request_reload();
    // Stops the control thread, closes the socket, removes the record.
    void stop();

    std::size_t served_count() const { return server_.disks().size(); }

    // control::LiveDaemon
    std::string disk_created(const disk::CatalogEntry& entry) override;
    void disk_deleting(const std::string& name) override;
    std::map<std::string, std::string> serving_changed() override;
    void exports_releasing(const std::vector<std::string>& exports) override;
    void keys_changed() override;
    nlohmann::json live_status() override;
    nlohmann::json configure_monitor(control::Params& params) override;

  private:
    void run();
    void wake() noexcept;
    std::string handle(const PeerCredentials& caller, std::string_view line);
    void reload();
    // Serves what the catalog and instances say now; the exports that could
    // not be served, with why.
    std::map<std::string, std::string> apply_plan();
    void check_keys();
    void check_disk(const std::shared_ptr<disk::ServedDisk>& disk, CheckTime now);
    void rotate_platform_key_if_due();
    nlohmann::json monitor_view() const;
    // An export's tier, disk or instance, DEK ids and counters.
    nlohmann::json export_view(disk::ServedDisk& served) const;
    void end_temporary_monitor_settings();

    DaemonConfig config_;
    Server& server_;
    control::StateDirectory state_;
    ControlAudit audit_;
    KeyMonitorConfig monitor_;
    ExportManager exports_;
    std::map<std::string, DiskKeyState> key_states_;  // by export name
    std::optional<ControlServer> control_server_;
    UniqueFd wake_fd_;
    std::atomic<bool> reload_requested_{false};
    std::atomic<bool> stop_requested_{false};
    bool check_requested_ = false;
    std::chrono::steady_clock::time_point next_key_check_;
    std::chrono::steady_clock::time_point next_platform_check_;
    TimePoint started_;
    std::optional<TimePoint> last_key_check_;
    // While a drill's settings are in force: when they end by themselves.
    std::optional<TimePoint> temporary_until_;
    std::chrono::steady_clock::time_point temporary_end_;
    KeyMonitorConfig settings_after_temporary_;
    std::thread thread_;
};

}  // namespace hostcrypt::daemon
