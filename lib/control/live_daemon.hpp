#pragma once

// What a control method needs from a running daemon, beyond the state
// directory: a disk created is served at once, a disk deleted stops being
// served, a key change is checked at once, and status includes what only
// the daemon knows. Offline there is no daemon and methods skip these steps.
//
// Every member is called on the daemon's control thread.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/params.hpp"
#include "disk/disk_catalog.hpp"

namespace hostcrypt::control {

class LiveDaemon {
  public:
    virtual ~LiveDaemon() = default;

    // Serves a disk just added to the catalog. Returns an empty string, or
    // why it could not be served (the disk stays in the catalog).
    virtual std::string disk_created(const disk::CatalogEntry& entry) = 0;
    // Stops serving a disk about to be deleted. Throws ControlError(refused)
    // while clients are connected to it.
    virtual void disk_deleting(const std::string& name) = 0;
    // The catalog or the instances changed (or a change failed after
    // exports_releasing): serve what they say now (instance/serving_plan.hpp)
    // — new exports served, exports no longer planned retired (temp disks of
    // deallocated instances erased), released exports still planned offered
    // again. Returns the exports that could not be served, with why.
    virtual std::map<std::string, std::string> serving_changed() = 0;
    // Stops offering `exports` (export names) ahead of a change that takes
    // them away; serving_changed() then drops or restores them. Throws
    // ControlError(refused), offering them all again, if clients are
    // connected to any of them.
    virtual void exports_releasing(const std::vector<std::string>& exports) = 0;
    // Keys or wrapped keys changed (rotation, enable, disable, ...): the key
    // monitor checks every disk now instead of at its next interval.
    virtual void keys_changed() = 0;

    // {"daemon": {...}, "disks": {"<export>": {...}}}: the daemon's own state
    // and, per export, its tier, the disk or instance it serves, its DEK
    // ids, key status, connections and counters.
    virtual nlohmann::json live_status() = 0;
    // Changes the key monitor's interval, grace and unreachable tolerance
    // (for drills); returns the settings in force.
    virtual nlohmann::json configure_monitor(Params& params) = 0;
};

}  // namespace hostcrypt::control
