#pragma once

// What the daemon should offer, derived from the disk catalog and the
// instances alone, so that start-up, reloads and every control method agree:
// - a disk attached to no instance: as itself, "<disk>";
// - an allocated instance: each attached disk as "<instance>/<disk>" and its
//   temp disk as "<instance>/temp";
// - a disk attached to a deallocated instance: not at all.

#include <map>
#include <string>
#include <vector>

#include "disk/disk_catalog.hpp"
#include "disk/served_disk.hpp"
#include "instance/instance_record.hpp"

namespace hostcrypt::instance {

struct PlannedExport {
    std::string name;  // the export name
    disk::Tier tier = disk::Tier::persisted;
    std::string instance;                  // empty for a disk of no instance
    disk::CatalogEntry disk;               // persisted tier
    disk::TempDiskSpec temp;               // temp tier
    std::optional<disk::CacheSpec> cache;  // persisted tier in an instance: its host cache

    bool operator==(const PlannedExport& other) const;
};

struct ServingPlan {
    std::map<std::string, PlannedExport> exports;  // by export name
    // Attachments that name a disk the catalog does not have: export -> why.
    std::map<std::string, std::string> problems;
};

ServingPlan plan_exports(const std::vector<disk::CatalogEntry>& disks,
                         const std::vector<InstanceRecord>& instances);

}  // namespace hostcrypt::instance
