#pragma once

// The instances of a state directory: <state>/instances/<name>.json, one
// record per instance, each replaced atomically.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "instance/instance_record.hpp"

namespace hostcrypt::instance {

class InstanceCatalog {
  public:
    explicit InstanceCatalog(std::filesystem::path directory) : directory_(std::move(directory)) {}

    // InstanceError(already_exists | invalid_argument)
    void add(const InstanceRecord& record);
    // InstanceError(not_found | corrupt)
    InstanceRecord get(const std::string& name) const;
    std::vector<InstanceRecord> list() const;  // by name
    // Every record that can be read, by name; the others go to `unreadable`
    // (name -> why), so that one damaged record does not stop the rest.
    std::vector<InstanceRecord> readable(std::map<std::string, std::string>& unreadable) const;
    // Replaces an existing record. InstanceError(not_found)
    void save(const InstanceRecord& record);
    void remove(const std::string& name);  // InstanceError(not_found)

    // The instance `disk` is attached to, if any (of the readable records).
    std::optional<std::string> attached_to(const std::string& disk) const;

  private:
    std::filesystem::path file_of(const std::string& name) const;
    void write(const InstanceRecord& record);
    std::filesystem::path directory_;
};

}  // namespace hostcrypt::instance
