#include "instance/serving_plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace hostcrypt::instance {

bool PlannedExport::operator==(const PlannedExport& other) const {
    return name == other.name && tier == other.tier && instance == other.instance &&
           disk.name == other.disk.name && disk.path == other.disk.path &&
           disk.uuid == other.disk.uuid && temp.size == other.temp.size &&
           temp.sector_size == other.temp.sector_size && cache == other.cache;
}

ServingPlan plan_exports(const std::vector<disk::CatalogEntry>& disks,
                         const std::vector<InstanceRecord>& instances) {
    std::map<std::string, const disk::CatalogEntry*> by_name;
    for (const disk::CatalogEntry& entry : disks) {
        by_name[entry.name] = &entry;
    }
    ServingPlan plan;
    // Records edited by hand may attach a disk twice; such a disk is served
    // by none of them (two exports would mean two writers on one store).
    std::map<std::string, std::vector<std::string>> owners;
    for (const InstanceRecord& record : instances) {
        for (const AttachedDisk& item : record.disks) {
            owners[item.disk].push_back(record.name);
        }
    }
    for (const InstanceRecord& record : instances) {
        if (!record.allocated) {
            continue;
        }
        for (const AttachedDisk& item : record.disks) {
            const std::string name = export_name(record.name, item.disk);
            const std::vector<std::string>& disk_owners = owners.at(item.disk);
            if (disk_owners.size() > 1) {
                plan.problems[name] = fmt::format(
                    "disk {} is attached to more than one instance ({}): served by none of "
                    "them until all but one detach it",
                    item.disk, fmt::join(disk_owners, ", "));
                continue;
            }
            if (item.disk == temp_disk_name) {
                plan.problems[name] = fmt::format(
                    "instance {} attaches a disk named {}, which would take the temp disk's "
                    "export: detach it",
                    record.name, item.disk);
                continue;
            }
            const auto found = by_name.find(item.disk);
            if (found == by_name.end()) {
                plan.problems[name] =
                    fmt::format("instance {} names disk {}, which is not in the catalog",
                                record.name, item.disk);
                continue;
            }
            PlannedExport planned;
            planned.name = name;
            planned.instance = record.name;
            planned.disk = *found->second;
            planned.cache = item.cache;
            plan.exports[name] = std::move(planned);
        }
        PlannedExport temp;
        temp.name = export_name(record.name, temp_disk_name);
        temp.tier = disk::Tier::temp;
        temp.instance = record.name;
        temp.temp = record.temp;
        plan.exports[temp.name] = std::move(temp);
    }
    for (const disk::CatalogEntry& entry : disks) {
        if (!owners.contains(entry.name)) {
            PlannedExport planned;
            planned.name = entry.name;
            planned.disk = entry;
            plan.exports[entry.name] = std::move(planned);
        }
    }
    return plan;
}

}  // namespace hostcrypt::instance
