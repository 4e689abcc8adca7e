#pragma once

// Makes the data plane offer exactly what the serving plan says
// (instance/serving_plan.hpp): opens persisted disks under their export
// names, makes a fresh temp disk for each allocated instance and erases it
// when the plan drops it, and remembers what could not be served, and why,
// to retry later.
//
// Control thread only.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/server.hpp"
#include "disk/temp_disk.hpp"
#include "instance/serving_plan.hpp"
#include "keys/key_providers.hpp"

namespace hostcrypt::daemon {

class ExportManager {
  public:
    // Creates the temp directory (private) and deletes every temp disk an
    // earlier daemon left in it. Throws hostcrypt::Error.
    ExportManager(const DaemonConfig& config, Server& server, keys::KeyProviders& providers);
    // Erases every temp disk (the daemon is stopping: their keys die with it).
    ~ExportManager();
    ExportManager(const ExportManager&) = delete;
    ExportManager& operator=(const ExportManager&) = delete;

    // Serves what `plan` has and is not served yet; retires (dropping their
    // keys, erasing temp disks) what is served or released but not in the
    // plan, or planned differently now; offers again what was released and
    // is still planned as it was. Returns the planned exports not served,
    // with why.
    std::map<std::string, std::string> apply(const instance::ServingPlan& plan);

    // Stops offering `exports` ahead of a change that takes them away,
    // keeping their disks (keys, temp disk data) until the next apply() —
    // which erases them if the change was made and offers them again if
    // not. If any has clients, offers them all again at once and returns
    // false with the export in use in `busy`.
    bool release(const std::vector<std::string>& exports, std::string& busy);

    // Tries the planned exports not served again; `worth_trying` says
    // whether a persisted disk's keys look usable (empty: why they are not).
    void retry_unserved(const std::function<std::string(const disk::CatalogEntry&)>& worth_trying);

    // Wraps every temp disk's DEK under the platform key's newest version.
    void rewrap_temp_disks();

    const std::map<std::string, std::string>& unserved() const noexcept { return unserved_; }
    const std::map<std::string, instance::PlannedExport>& planned_unserved() const noexcept {
        return waiting_;
    }
    // The temp disk serving `export_name`, or null.
    const disk::TempDisk* temp_disk(const std::string& export_name) const;
    // The plan entry an export is served by, or null.
    const instance::PlannedExport* served_as(const std::string& export_name) const;

  private:
    // Serves one planned export; returns why not, or an empty string.
    std::string serve(const instance::PlannedExport& planned);
    // Retires `served` (null if it is not offered): its keys are dropped, a
    // temp disk is erased.
    void drop(const std::shared_ptr<disk::ServedDisk>& served, const std::string& export_name,
              const std::string& why);

    const DaemonConfig& config_;
    Server& server_;
    keys::KeyProviders& providers_;
    std::filesystem::path temp_directory_;
    std::filesystem::path cache_directory_;
    std::map<std::string, instance::PlannedExport> served_;   // by export name
    std::map<std::string, instance::PlannedExport> waiting_;  // planned, not served
    std::map<std::string, std::string> unserved_;             // export -> why
    std::map<std::string, disk::TempDisk> temp_disks_;        // by export name
    // Released by release(), not offered, awaiting the next apply().
    std::map<std::string, std::shared_ptr<disk::ServedDisk>> released_;
};

}  // namespace hostcrypt::daemon
