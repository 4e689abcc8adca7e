// status, monitor.configure

#include <array>

#include "common/error.hpp"
#include "control/methods.hpp"
#include "control/views.hpp"
#include "disk/disk_keys.hpp"
#include "disk/header_slots.hpp"

namespace hostcrypt::control {

namespace {

using nlohmann::json;

// Every catalog disk with its type, geometry, the key versions that wrap its
// DEKs and their health now; with a daemon, also whether it is served, its
// key status (serving, grace, revoked, ...), connections and counters.
json status(CallContext& call, Params& params) {
    params.finish();
    const json live = call.daemon != nullptr
                          ? call.daemon->live_status()
                          : json{{"daemon", {{"running", false}}}, {"disks", json::object()}};
    json disks = json::array();
    for (const disk::CatalogEntry& entry : call.state.catalog().list()) {
        json view;
        try {
            const disk::DiskHeader header = disk::read_newest_header(entry);
            view = disk_view(entry, header);
            view["health"] = health_view(disk::disk_key_health(header, call.state.providers()));
        } catch (const Error& error) {
            view = {{"name", entry.name},
                    {"path", entry.path.string()},
                    {"set", entry.set},
                    {"error", error.what()}};
        }
        if (call.daemon != nullptr) {
            const auto served = live.at("disks").find(entry.name);
            view["served"] = served != live.at("disks").end();
            if (view["served"].get<bool>()) {
                view.update(*served);
            }
        }
        disks.push_back(std::move(view));
    }
    return {{"daemon", live.at("daemon")}, {"disks", std::move(disks)}};
}

json configure_monitor(CallContext& call, Params& params) {
    return call.daemon->configure_monitor(params);
}

const std::array table{
    Method{"status", Role::reader, status},
    Method{"monitor.configure", Role::crypto_officer, configure_monitor, true},
};

}  // namespace

std::span<const Method> status_methods() {
    return table;
}

}  // namespace hostcrypt::control
