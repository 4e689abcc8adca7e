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

// The daemon's view of the export of catalog disk `disk` (under its own
// name or as an instance's, served or not), or null.
const json* export_of(const json& live, const std::string& disk, std::string& export_name) {
    for (const auto& [name, view] : live.at("disks").items()) {
        if (view.value("disk", std::string()) == disk) {
            export_name = name;
            return &view;
        }
    }
    return nullptr;
}

// Every catalog disk with its type, geometry, the key versions that wrap its
// DEKs and their health now, and the instance it is attached to; with a
// daemon, also whether and as what it is served, its key status (serving,
// grace, revoked, ...), connections and counters, and the temp disks.
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
        const std::optional<std::string> owner = call.state.instances().attached_to(entry.name);
        view["instance"] = owner ? json(*owner) : json(nullptr);
        if (call.daemon != nullptr) {
            // Served, or why not (the daemon lists both); neither for a
            // disk of a deallocated instance.
            std::string export_name;
            const json* live_view = export_of(live, entry.name, export_name);
            view["served"] = false;
            if (live_view != nullptr) {
                view.update(*live_view);
                view["export"] = export_name;
                view["served"] = live_view->value("served", true);
            }
        }
        disks.push_back(std::move(view));
    }
    json temp_disks = json::array();
    for (const auto& [name, view] : live.at("disks").items()) {
        if (view.value("tier", std::string()) == "temp") {
            json temp = view;
            temp["export"] = name;
            temp_disks.push_back(std::move(temp));
        }
    }
    return {{"daemon", live.at("daemon")},
            {"disks", std::move(disks)},
            {"temp_disks", std::move(temp_disks)}};
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
