#pragma once

// The disks of a state directory: <state>/disks/<name>.json maps each disk's
// name to its backing store and encryption set. The backing store itself is
// the authority on everything else (size, keys): the catalog never repeats it.

#include <filesystem>
#include <string>
#include <vector>

#include "common/utc_time.hpp"

namespace hostcrypt::disk {

struct CatalogEntry {
    std::string name;
    std::filesystem::path path;  // backing file or block device
    std::string set;
    TimePoint created;
    // The header's uuid, so that deleting the disk erases only its own
    // backing store; empty in entries written before it was recorded.
    std::string uuid;
};

class DiskCatalog {
  public:
    explicit DiskCatalog(std::filesystem::path directory) : directory_(std::move(directory)) {}

    // Where a disk's backing file goes when none is given; creates the
    // catalog directory so the file can be created there.
    std::filesystem::path default_backing_path(const std::string& name) const;

    void add(const CatalogEntry& entry);  // DiskError(already_exists | invalid_argument)
    CatalogEntry get(const std::string& name) const;  // DiskError(not_found | corrupt)
    std::vector<CatalogEntry> list() const;           // by name
    void remove(const std::string& name);             // DiskError(not_found)

  private:
    void ensure_directory() const;
    std::filesystem::path file_of(const std::string& name) const;
    std::filesystem::path directory_;
};

}  // namespace hostcrypt::disk
