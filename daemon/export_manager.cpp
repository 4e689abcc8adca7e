#include "daemon/export_manager.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/files.hpp"
#include "daemon/log.hpp"

namespace hostcrypt::daemon {

ExportManager::ExportManager(const DaemonConfig& config, Server& server,
                             keys::KeyProviders& providers)
    : config_(config),
      server_(server),
      providers_(providers),
      temp_directory_(config.temp_directory_in_use()),
      cache_directory_(config.cache_directory_in_use()) {
    ensure_private_directory(temp_directory_);
    ensure_private_directory(cache_directory_);
    if (const std::size_t stale = disk::discard_stale_temp_files(temp_directory_); stale > 0) {
        log("temp disks: deleted {} file(s) left in {} by an earlier daemon (their keys were "
            "never stored: the data was unreadable already)",
            stale, temp_directory_.string());
    }
}

ExportManager::~ExportManager() {
    // Host caches are closed as they are, dirty data included: it is written
    // back after the next start, or when the disk is detached.
    std::vector<std::shared_ptr<disk::ServedDisk>> disks = server_.disks();
    for (const auto& [name, served] : released_) {
        disks.push_back(served);
    }
    for (const auto& served : disks) {
        if (disk::HostCache* cache = served->cache()) {
            const std::string problem = cache->close(false, false);
            log("disk {}: host cache closed{}", served->name(),
                problem.empty() ? "" : ": " + problem);
        }
    }
    for (auto& [name, temp] : temp_disks_) {
        server_.retire(name, false);
        const std::string problem = temp.erase();
        log("temp disk {}: erased (the daemon is stopping){}", name,
            problem.empty() ? "" : "; " + problem);
    }
}

std::string ExportManager::serve(const instance::PlannedExport& planned) {
    disk::ServeOptions options;
    options.direct_io = config_.direct_io;
    options.read_only = config_.read_only;
    const char* what = planned.tier == disk::Tier::temp ? "temp disk" : "disk";
    std::string notice;
    const auto log_notice = [&] {
        if (!notice.empty()) {
            log("{} {}: {}", what, planned.name, notice);
        }
    };
    try {
        if (planned.tier == disk::Tier::temp) {
            disk::TempDisk temp = disk::TempDisk::create(
                disk::temp_file_path(temp_directory_, planned.instance), planned.name, planned.temp,
                providers_.platform(), options, &notice);
            log_notice();
            server_.offer(temp.served());
            log("temp disk {}: serving {} bytes, {}-byte sectors, a fresh key (id {}) wrapped "
                "under {}, in {}",
                planned.name, planned.temp.size, planned.temp.sector_size, temp.dek_id(),
                keys::to_string(temp.wrapped_by()), temp.path().string());
            temp_disks_.emplace(planned.name, std::move(temp));
        } else {
            options.cache = disk::CacheRequest{cache_directory_, planned.cache,
                                               [](const std::string& line) { log("{}", line); }};
            auto served =
                disk::ServedDisk::open(planned.disk, providers_, options, &notice, planned.name);
            log_notice();
            server_.offer(served);
            log("disk {}: serving {} bytes, {}-byte sectors, from {}{}", planned.name,
                served->size(), served->sector_size(), planned.disk.path.string(),
                served->cache() == nullptr
                    ? ""
                    : fmt::format(", {} host cache of {} bytes in {}",
                                  disk::to_string(served->cache()->mode()),
                                  served->cache()->slot_count() * served->sector_size(),
                                  served->cache()->path().string()));
        }
        served_[planned.name] = planned;
        return {};
    } catch (const std::exception& error) {
        log("{} {}: not served: {}", what, planned.name, error.what());
        return error.what();
    }
}

void ExportManager::drop(const std::shared_ptr<disk::ServedDisk>& served,
                         const std::string& export_name, const std::string& why) {
    server_.retire(export_name, false);
    served_.erase(export_name);
    const auto temp = temp_disks_.find(export_name);
    if (temp != temp_disks_.end()) {
        const std::string problem = temp->second.erase();
        temp_disks_.erase(temp);
        log("temp disk {}: erased ({}){}", export_name, why, problem.empty() ? "" : "; " + problem);
    } else if (served) {
        if (disk::HostCache* cache = served->cache()) {
            // Written back while the keys are still here; deleted if that
            // worked, since the disk may be written without it from now on.
            const std::string problem = cache->close(true, true);
            log("disk {}: host cache {}", export_name,
                problem.empty() ? "written back and deleted" : "kept: " + problem);
        }
        // Connections may outlive the export; nothing monitors its keys any
        // more, so they go now, and those connections get EIO.
        served->keys().revoke(why);
        log("disk {}: not offered any more, its keys dropped: {}", export_name, why);
    }
}

std::map<std::string, std::string> ExportManager::apply(const instance::ServingPlan& plan) {
    std::vector<std::string> gone;
    for (const auto& [name, planned] : served_) {
        const auto wanted = plan.exports.find(name);
        if (wanted == plan.exports.end() || !(wanted->second == planned)) {
            gone.push_back(name);
        }
    }
    // Released for a change that was not made after all: back as they were.
    for (auto& [name, served] : released_) {
        if (std::find(gone.begin(), gone.end(), name) == gone.end()) {
            server_.offer(std::move(served));
        }
    }
    for (const std::string& name : gone) {
        const auto released = released_.find(name);
        drop(released != released_.end() ? released->second : server_.disk(name), name,
             plan.exports.contains(name) ? "its disk or instance changed"
                                         : "no longer in the catalog or its instance");
    }
    released_.clear();
    if (!gone.empty()) {
        server_.refresh_ciphers();
    }
    waiting_.clear();
    unserved_.clear();
    for (const auto& [name, planned] : plan.exports) {
        if (served_.contains(name)) {
            continue;
        }
        const std::string why = serve(planned);
        if (!why.empty()) {
            waiting_[name] = planned;
            unserved_[name] = why;
        }
    }
    for (const auto& [name, why] : plan.problems) {
        log("{}: not served: {}", name, why);
        unserved_[name] = why;
    }
    return unserved_;
}

bool ExportManager::release(const std::vector<std::string>& exports, std::string& busy) {
    std::vector<std::shared_ptr<disk::ServedDisk>> released;
    for (const std::string& name : exports) {
        const std::shared_ptr<disk::ServedDisk> served = server_.disk(name);
        if (!served) {
            continue;
        }
        if (!server_.retire(name, true)) {
            busy = name;
            for (auto& disk : released) {
                server_.offer(std::move(disk));  // as they were: nothing changed
            }
            return false;
        }
        released.push_back(served);
    }
    for (auto& disk : released) {
        const std::string name = disk->name();
        released_[name] = std::move(disk);
    }
    return true;
}

void ExportManager::retry_unserved(
    const std::function<std::string(const disk::CatalogEntry&)>& worth_trying) {
    for (auto item = waiting_.begin(); item != waiting_.end();) {
        const instance::PlannedExport& planned = item->second;
        std::string why;
        if (planned.tier == disk::Tier::persisted) {
            why = worth_trying(planned.disk);
        }
        // Only a disk whose keys are usable now is worth a try (and a log line).
        why = why.empty() ? serve(planned) : why;
        if (why.empty()) {
            unserved_.erase(item->first);
            item = waiting_.erase(item);
        } else {
            unserved_[item->first] = why;
            ++item;
        }
    }
}

void ExportManager::rewrap_temp_disks() {
    for (auto& [name, temp] : temp_disks_) {
        const keys::KeyRef before = temp.wrapped_by();
        try {
            temp.rewrap(providers_.platform());
            if (temp.wrapped_by() != before) {
                log("temp disk {}: key re-wrapped under {}", name,
                    keys::to_string(temp.wrapped_by()));
            }
        } catch (const std::exception& error) {
            log("temp disk {}: key not re-wrapped (retried later): {}", name, error.what());
        }
    }
}

const disk::TempDisk* ExportManager::temp_disk(const std::string& export_name) const {
    const auto found = temp_disks_.find(export_name);
    return found == temp_disks_.end() ? nullptr : &found->second;
}

const instance::PlannedExport* ExportManager::served_as(const std::string& export_name) const {
    const auto found = served_.find(export_name);
    return found == served_.end() ? nullptr : &found->second;
}

}  // namespace hostcrypt::daemon
