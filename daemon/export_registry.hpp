#pragma once

// The exports the daemon offers: one per served disk, by disk name. The
// handshake looks exports up here; a connection then holds its disk by
// shared pointer, so a disk removed by a catalog reload stays valid for the
// connections already using it.
//
// Thread safety: every member may be called from any thread (reactors look
// up exports while the control thread adds and removes them). Only handshakes and reloads
// take the lock, never requests.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "disk/served_disk.hpp"
#include "nbd/exports.hpp"

namespace hostcrypt::daemon {

class ExportRegistry final : public nbd::ExportDirectory {
  public:
    void add(std::shared_ptr<disk::ServedDisk> disk);
    void remove(const std::string& name);
    bool contains(const std::string& name) const;
    std::shared_ptr<disk::ServedDisk> disk(std::string_view name) const;
    // A connection starts using the disk: counts it (the caller uncounts it
    // when it closes) under the same lock that remove_unused takes, so a disk
    // is never removed as unused while a handshake is taking it.
    std::shared_ptr<disk::ServedDisk> attach(std::string_view name) const;
    // Removes the export if no connection uses it and returns its disk; null
    // if it is in use or not there.
    std::shared_ptr<disk::ServedDisk> remove_unused(const std::string& name);
    std::vector<std::shared_ptr<disk::ServedDisk>> disks() const;

    std::optional<nbd::ExportInfo> find(std::string_view name) const override;
    std::vector<nbd::ExportInfo> list() const override;

    // What a client is told about `disk`.
    static nbd::ExportInfo export_info(const disk::ServedDisk& disk);

  private:
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<disk::ServedDisk>, std::less<>> disks_;
};

}  // namespace hostcrypt::daemon
