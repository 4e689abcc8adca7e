#pragma once

// An instance: the disks of one VM on this host. It groups persisted disks
// (attached by name, at most one instance per disk), one temp disk (made
// fresh whenever the instance is allocated) and whether it is allocated.
// While it is allocated the daemon serves its disks as "<instance>/<disk>"
// and its temp disk as "<instance>/temp"; an attached disk is not served
// under its own name, so that every write to it goes through one path.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/utc_time.hpp"
#include "disk/cache_file.hpp"
#include "disk/temp_disk.hpp"

namespace hostcrypt::instance {

// The export name of the temp disk; no attached disk may take it.
inline constexpr const char* temp_disk_name = "temp";

struct AttachedDisk {
    std::string disk;
    std::optional<disk::CacheSpec> cache = std::nullopt;  // its host cache; none: no cache

    bool operator==(const AttachedDisk&) const = default;
};

struct InstanceRecord {
    std::string name;
    disk::TempDiskSpec temp;
    std::vector<AttachedDisk> disks;  // in attach order
    bool allocated = true;
    TimePoint created;

    const AttachedDisk* find(const std::string& disk) const;
};

// "<instance>/<disk>"
std::string export_name(const std::string& instance, const std::string& disk);

}  // namespace hostcrypt::instance
