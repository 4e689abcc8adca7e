#include "instance/instance_record.hpp"

#include <algorithm>

namespace hostcrypt::instance {

const AttachedDisk* InstanceRecord::find(const std::string& disk) const {
    const auto found = std::find_if(disks.begin(), disks.end(),
                                    [&](const AttachedDisk& item) { return item.disk == disk; });
    return found == disks.end() ? nullptr : &*found;
}

std::string export_name(const std::string& instance, const std::string& disk) {
    return instance + "/" + disk;
}

}  // namespace hostcrypt::instance
