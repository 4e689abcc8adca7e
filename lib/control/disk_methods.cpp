// disk.create|list|show|delete|check

#include <array>
#include <filesystem>

#include <fmt/format.h>

#include "common/error.hpp"
#include "control/control_error.hpp"
#include "control/exit_codes.hpp"
#include "control/methods.hpp"
#include "control/views.hpp"
#include "disk/disk.hpp"
#include "disk/disk_error.hpp"
#include "disk/header_slots.hpp"
#include "instance/instance_error.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::control {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using storage::FileStorage;

bool in_catalog(disk::DiskCatalog& catalog, const std::string& name) {
    try {
        catalog.get(name);
        return true;
    } catch (const disk::DiskError& error) {
        if (error.code() != disk::DiskErrc::not_found) {
            throw;
        }
        return false;
    }
}

json create(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    const std::string set_name = params.required_string("set");
    disk::CreateDiskOptions options;
    options.size = params.required_uint("size");
    options.sector_size = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(params.optional_uint("sector_size").value_or(4096), UINT32_MAX));
    options.preallocate = params.bool_or("preallocate", false);
    const std::optional<std::string> path_param = params.optional_string("path");
    params.finish();
    if (path_param && !fs::path(*path_param).is_absolute()) {
        // Relative to what? The daemon's working directory is not the caller's.
        throw invalid_params(fmt::format("path '{}' must be absolute", *path_param));
    }
    if (path_param && !call.privileged) {
        // The daemon runs as root: a path chosen by an unprivileged operator
        // would let them have root create files anywhere.
        throw ControlError(exit_refused, "refused",
                           "only root may choose a disk's backing path; without --path the disk "
                           "is created in the state directory");
    }
    options.progress = call.progress;

    const keys::EncryptionSet set = call.state.sets().get(set_name);
    disk::DiskCatalog& catalog = call.state.catalog();
    const fs::path path = path_param ? fs::path(*path_param) : catalog.default_backing_path(name);
    if (in_catalog(catalog, name)) {
        throw disk::DiskError(disk::DiskErrc::already_exists,
                              fmt::format("disk {} already exists", name));
    }
    const disk::DiskHeader header =
        disk::Disk::create(path, name, options, set, call.state.providers());
    const disk::CatalogEntry entry{name, fs::absolute(path), set.name, system_now(), header.uuid};
    try {
        catalog.add(entry);
    } catch (...) {
        fs::remove(path);
        throw;
    }
    json view = disk_view(entry, header);
    if (call.daemon != nullptr) {
        const std::string problem = call.daemon->disk_created(entry);
        view["served"] = problem.empty();
        if (!problem.empty()) {
            view["not_served_because"] = problem;
        }
    }
    return view;
}

json list(CallContext& call, Params& params) {
    params.finish();
    json result = json::array();
    for (const disk::CatalogEntry& entry : call.state.catalog().list()) {
        try {
            result.push_back(disk_view(entry, disk::read_newest_header(entry)));
        } catch (const Error& error) {
            result.push_back({{"name", entry.name},
                              {"path", entry.path.string()},
                              {"set", entry.set},
                              {"error", error.what()}});
        }
    }
    return result;
}

json show(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    const disk::CatalogEntry entry = call.state.catalog().get(name);
    const disk::DiskHeader header = disk::read_newest_header(entry);
    json view = disk_view(entry, header);
    view["health"] = health_view(disk::disk_key_health(header, call.state.providers()));
    return view;
}

// Zeroes both header slots, so that without its wrapped DEKs the ciphertext
// is unreadable (crypto-erase; block devices are erased, not removed) — but
// only after checking, on the very descriptor it writes through, that the
// store holds this disk's header: a path replaced since (a symlink to
// another file or disk) is refused, not erased.
void erase_backing_store(const disk::CatalogEntry& entry) {
    const auto storage = FileStorage::open(entry.path, FileStorage::Mode::read_write);
    std::string problem;
    try {
        const disk::DiskHeader header = disk::read_newest_header(*storage, entry.name);
        if (!entry.uuid.empty() && header.uuid != entry.uuid) {
            problem =
                fmt::format("it holds the header of disk {}, not {}", header.uuid, entry.uuid);
        }
    } catch (const Error& error) {
        problem = error.what();
    }
    if (!problem.empty()) {
        throw ControlError(exit_refused, "refused",
                           fmt::format("disk {}: not erasing {}: {}; to forget the disk without "
                                       "touching its backing store, delete it with --keep-backing",
                                       entry.name, entry.path.string(), problem));
    }
    const std::vector<std::byte> zeros(2 * disk::header_slot_size);
    storage->write_at(zeros, 0);
    storage->sync();
    if (fs::is_regular_file(entry.path)) {
        fs::remove(entry.path);
    }
}

json remove(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    const bool keep = params.bool_or("keep_backing", false);
    params.finish();
    const disk::CatalogEntry entry = call.state.catalog().get(name);
    if (const std::optional<std::string> owner = call.state.instances().attached_to(name)) {
        throw instance::InstanceError(
            instance::InstanceErrc::conflict,
            fmt::format("disk {} is attached to instance {}; detach it first", name, *owner));
    }
    if (call.daemon != nullptr) {
        call.daemon->disk_deleting(name);
    }
    try {
        if (!keep && fs::exists(entry.path)) {
            erase_backing_store(entry);
        }
        call.state.catalog().remove(name);
    } catch (...) {
        if (call.daemon != nullptr) {
            call.daemon->disk_created(entry);  // not deleted after all: serve it again
        }
        throw;
    }
    if (call.daemon != nullptr) {
        call.daemon->serving_changed();  // its keys leave memory now
    }
    return {{"name", name}, {"deleted", true}, {"backing_kept", keep}};
}

json check(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    const disk::CatalogEntry entry = call.state.catalog().get(name);
    json problems = json::array();
    json slots = json::array();
    auto storage = FileStorage::open(entry.path, FileStorage::Mode::read_only);
    for (const disk::SlotStatus& slot : disk::inspect_header_slots(*storage, entry.name)) {
        slots.push_back(slot.valid ? json{{"valid", true}, {"sequence", slot.sequence}}
                                   : json{{"valid", false}, {"problem", slot.problem}});
        if (!slot.valid) {
            problems.push_back("header copy damaged: " + slot.problem);
        }
    }
    try {
        const disk::Disk opened =
            disk::Disk::open(std::move(storage), entry.name, call.state.providers());
    } catch (const Error& error) {
        problems.push_back(error.what());
    }
    const bool ok = problems.empty();
    return {{"disk", entry.name}, {"header_copies", slots}, {"problems", problems}, {"ok", ok}};
}

const std::array table{
    Method{"disk.create", Role::disk_operator, create},
    Method{"disk.list", Role::reader, list},
    Method{"disk.show", Role::reader, show},
    Method{"disk.delete", Role::disk_operator, remove},
    Method{"disk.check", Role::reader, check},
};

}  // namespace

std::span<const Method> disk_methods() {
    return table;
}

}  // namespace hostcrypt::control
