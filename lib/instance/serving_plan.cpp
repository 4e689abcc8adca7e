#include "instance/serving_plan.hpp"

#include <set>

#include <fmt/format.h>

namespace hostcrypt::instance {

bool PlannedExport::operator==(const PlannedExport& other) const {
    return name == other.name && tier == other.tier && instance == other.instance &&
           disk.name == other.disk.name && disk.path == other.disk.path &&
           disk.uuid == other.disk.uuid && temp.size == other.temp.size &&
           temp.sector_size == other.temp.sector_size;
}

ServingPlan plan_exports(const std::vector<disk::CatalogEntry>& disks,
                         const std::vector<InstanceRecord>& instances) {
    std::map<std::string, const disk::CatalogEntry*> by_name;
    for (const disk::CatalogEntry& entry : disks) {
        by_name[entry.name] = &entry;
    }
    ServingPlan plan;
    std::set<std::string> attached;
    for (const InstanceRecord& record : instances) {
        for (const AttachedDisk& item : record.disks) {
            attached.insert(item.disk);
        }
        if (!record.allocated) {
            continue;
        }
        for (const AttachedDisk& item : record.disks) {
            const std::string name = export_name(record.name, item.disk);
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
        if (!attached.contains(entry.name)) {
            PlannedExport planned;
            planned.name = entry.name;
            planned.disk = entry;
            plan.exports[entry.name] = std::move(planned);
        }
    }
    return plan;
}

}  // namespace hostcrypt::instance
