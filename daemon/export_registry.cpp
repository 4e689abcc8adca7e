#include "daemon/export_registry.hpp"

#include <fmt/format.h>

namespace hostcrypt::daemon {

void ExportRegistry::add(std::shared_ptr<disk::ServedDisk> disk) {
    std::lock_guard lock(mutex_);
    disks_[disk->name()] = std::move(disk);
}

void ExportRegistry::remove(const std::string& name) {
    std::lock_guard lock(mutex_);
    disks_.erase(name);
}

std::shared_ptr<disk::ServedDisk> ExportRegistry::attach(std::string_view name) const {
    std::lock_guard lock(mutex_);
    auto found = disks_.find(name);
    if (found == disks_.end()) {
        return nullptr;
    }
    disk::DiskCounters::add(found->second->counters().connections);
    return found->second;
}

std::shared_ptr<disk::ServedDisk> ExportRegistry::remove_unused(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto found = disks_.find(name);
    if (found == disks_.end() ||
        disk::DiskCounters::read(found->second->counters().connections) != 0) {
        return nullptr;
    }
    std::shared_ptr<disk::ServedDisk> removed = std::move(found->second);
    disks_.erase(found);
    return removed;
}

bool ExportRegistry::contains(const std::string& name) const {
    std::lock_guard lock(mutex_);
    return disks_.find(name) != disks_.end();
}

std::shared_ptr<disk::ServedDisk> ExportRegistry::disk(std::string_view name) const {
    std::lock_guard lock(mutex_);
    auto found = disks_.find(name);
    return found == disks_.end() ? nullptr : found->second;
}

std::vector<std::shared_ptr<disk::ServedDisk>> ExportRegistry::disks() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<disk::ServedDisk>> result;
    result.reserve(disks_.size());
    for (const auto& [name, disk] : disks_) {
        result.push_back(disk);
    }
    return result;
}

std::optional<nbd::ExportInfo> ExportRegistry::find(std::string_view name) const {
    auto found = disk(name);
    if (!found) {
        return std::nullopt;
    }
    return export_info(*found);
}

std::vector<nbd::ExportInfo> ExportRegistry::list() const {
    std::vector<nbd::ExportInfo> result;
    for (const auto& disk : disks()) {
        result.push_back(export_info(*disk));
    }
    return result;
}

nbd::ExportInfo ExportRegistry::export_info(const disk::ServedDisk& disk) {
    nbd::ExportInfo info;
    info.name = disk.name();
    info.description = disk.description();
    info.size = disk.size();
    info.minimum_block = disk.sector_size();
    info.preferred_block = nbd::preferred_block_size;
    info.maximum_block = nbd::max_payload_size;
    info.read_only = disk.read_only();
    return info;
}

}  // namespace hostcrypt::daemon
