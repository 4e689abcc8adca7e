// instance.create|list|show|attach|detach|allocate|deallocate|delete
//
// Each method changes the instance records and then, with a daemon, has it
// serve what the records say now (LiveDaemon::serving_changed). Exports
// that go away are released first, which is refused while clients use them;
// if the record cannot be saved after that, the daemon is told to serve
// what the records (unchanged) still say.

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "common/error.hpp"
#include "control/control_error.hpp"
#include "control/methods.hpp"
#include "control/views.hpp"
#include "disk/disk.hpp"
#include "disk/header_slots.hpp"
#include "instance/instance_error.hpp"

namespace hostcrypt::control {

namespace {

using instance::InstanceErrc;
using instance::InstanceError;
using instance::InstanceRecord;
using nlohmann::json;

// Refuses a disk that cannot join `record`: unknown, named like the temp
// disk, or attached already (here or to another instance).
void check_attachable(CallContext& call, const InstanceRecord& record, const std::string& disk) {
    call.state.catalog().get(disk);  // DiskError(not_found)
    if (disk == instance::temp_disk_name) {
        throw InstanceError(InstanceErrc::invalid_argument,
                            fmt::format("instance {}: a disk named {} cannot be attached: its "
                                        "export would be the instance's temp disk",
                                        record.name, disk));
    }
    if (record.find(disk) != nullptr) {
        throw InstanceError(
            InstanceErrc::conflict,
            fmt::format("disk {} is attached to instance {} already", disk, record.name));
    }
    const std::optional<std::string> owner = call.state.instances().attached_to(disk);
    if (owner && *owner != record.name) {
        throw InstanceError(
            InstanceErrc::conflict,
            fmt::format("disk {} is attached to instance {}; detach it there first", disk, *owner));
    }
}

// The host cache asked for: none, or a mode and a size (by default the
// smaller of the disk and 256 MiB) that the disk can have.
std::optional<disk::CacheSpec> cache_setting(const disk::CatalogEntry& entry,
                                             const std::string& disk_name,
                                             const std::optional<std::string>& mode,
                                             const std::optional<std::uint64_t>& size) {
    if (!mode || *mode == "none") {
        if (size) {
            throw InstanceError(InstanceErrc::invalid_argument,
                                "a cache size needs a cache mode (read-only or read-write)");
        }
        return std::nullopt;
    }
    disk::CacheSpec spec;
    try {
        spec.mode = disk::parse_cache_mode(*mode);
    } catch (const std::invalid_argument& error) {
        throw InstanceError(InstanceErrc::invalid_argument,
                            fmt::format("{}, or none", error.what()));
    }
    const disk::DiskHeader header = disk::read_newest_header(entry);
    constexpr std::uint64_t default_size = std::uint64_t{256} << 20;
    spec.size = size.value_or(std::min(default_size, header.size));
    if (spec.size == 0 || spec.size % header.sector_size != 0 || spec.size > header.size) {
        throw InstanceError(
            InstanceErrc::invalid_argument,
            fmt::format("disk {}: a cache of {} bytes is not possible: it must be a multiple of "
                        "the disk's {}-byte sectors and at most the disk's size ({} bytes)",
                        disk_name, spec.size, header.sector_size, header.size));
    }
    return spec;
}

// The exports an allocated instance has: its disks and its temp disk.
std::vector<std::string> exports_of(const InstanceRecord& record) {
    std::vector<std::string> names;
    for (const instance::AttachedDisk& attached : record.disks) {
        names.push_back(instance::export_name(record.name, attached.disk));
    }
    names.push_back(instance::export_name(record.name, instance::temp_disk_name));
    return names;
}

void release(CallContext& call, const std::vector<std::string>& exports) {
    if (call.daemon != nullptr && !exports.empty()) {
        call.daemon->exports_releasing(exports);
    }
}

// Has the daemon serve what the records say now; of the exports it could
// not serve, those in `relevant` (the others are not this call's business).
json apply(CallContext& call, const std::vector<std::string>& relevant) {
    json problems = json::object();
    if (call.daemon != nullptr) {
        for (const auto& [name, why] : call.daemon->serving_changed()) {
            if (std::find(relevant.begin(), relevant.end(), name) != relevant.end()) {
                problems[name] = why;
            }
        }
    }
    return problems;
}

// Saves `record` (or removes it) after `released` exports were let go; on
// failure the daemon goes back to serving what the records say. Returns the
// exports of `relevant` that are not served.
template <typename Change>
json change_record(CallContext& call, const std::vector<std::string>& released,
                   const std::vector<std::string>& relevant, Change change) {
    release(call, released);
    try {
        change(call.state.instances());
    } catch (...) {
        apply(call, {});
        throw;
    }
    return apply(call, relevant);
}

json layer_names(std::size_t index, std::size_t count) {
    if (count == 1) {
        return "only";
    }
    return index == 0 ? "inner" : "outer";
}

// What the daemon says about `export_name` if it serves it, or null.
const json* live_export(const json& live, const std::string& export_name) {
    if (!live.contains("disks")) {
        return nullptr;
    }
    const auto found = live.at("disks").find(export_name);
    if (found == live.at("disks").end() || !found->value("served", true)) {
        return nullptr;  // absent, or listed as not served
    }
    return &*found;
}

json persisted_tier(CallContext& call, const InstanceRecord& record, const std::string& disk_name,
                    const json& live) {
    const std::string export_name = instance::export_name(record.name, disk_name);
    json tier{{"tier", "persisted"},
              {"disk", disk_name},
              {"export", record.allocated ? json(export_name) : json(nullptr)}};
    try {
        const disk::CatalogEntry entry = call.state.catalog().get(disk_name);
        const disk::DiskHeader header = disk::read_newest_header(entry);
        tier["set"] = header.set_name;
        tier["type"] = keys::to_string(header.set_type);
        std::vector<std::string> ids;
        const json* served = live_export(live, export_name);
        // DEK ids come from the daemon's memory: showing them never unwraps a key.
        if (served != nullptr) {
            ids = served->at("dek_ids").get<std::vector<std::string>>();
        }
        tier["served"] = served != nullptr;
        json layers = json::array();
        for (std::size_t i = 0; i < header.layers.size(); ++i) {
            layers.push_back({{"layer", layer_names(i, header.layers.size())},
                              {"wrapped_by", header.layers[i].kek},
                              {"dek_id", i < ids.size() ? json(ids[i]) : json(nullptr)}});
        }
        tier["layers"] = layers;
    } catch (const std::exception& error) {
        tier["error"] = error.what();
    }
    return tier;
}

// The host cache of an attached disk: its setting, and its keys while the
// daemon serves it (a cache's DEKs exist only in the file it serves from).
json cache_tier(const InstanceRecord& record, const instance::AttachedDisk& attached,
                const json& live) {
    const std::string export_name = instance::export_name(record.name, attached.disk);
    json tier{{"tier", "cache"},
              {"disk", attached.disk},
              {"export", record.allocated ? json(export_name) : json(nullptr)},
              {"mode", disk::to_string(attached.cache->mode)},
              {"size", attached.cache->size}};
    const json* served = live_export(live, export_name);
    if (served == nullptr || !served->contains("cache")) {
        tier["served"] = false;
        tier["note"] = "its keys are shown while hostcryptd serves it";
        return tier;
    }
    const json& cache = served->at("cache");
    tier["served"] = true;
    tier["file"] = cache.at("file");
    json layers = json::array();
    const json& live_layers = cache.at("layers");
    for (std::size_t i = 0; i < live_layers.size(); ++i) {
        layers.push_back({{"layer", layer_names(i, live_layers.size())},
                          {"wrapped_by", live_layers[i].at("wrapped_by")},
                          {"dek_id", live_layers[i].at("dek_id")}});
    }
    tier["layers"] = std::move(layers);
    return tier;
}

json temp_tier(const InstanceRecord& record, const json& live, bool daemon) {
    const std::string export_name = instance::export_name(record.name, instance::temp_disk_name);
    json tier{{"tier", "temp"},
              {"export", record.allocated ? json(export_name) : json(nullptr)},
              {"size", record.temp.size},
              {"sector_size", record.temp.sector_size},
              {"type", "platform"}};
    const json* served = live_export(live, export_name);
    if (served != nullptr) {
        tier["served"] = true;
        tier["layers"] = json::array({{{"layer", "only"},
                                       {"wrapped_by", served->at("wrapped_by")},
                                       {"dek_id", served->at("dek_ids").at(0)}}});
        return tier;
    }
    tier["served"] = false;
    tier["note"] = !record.allocated ? "deallocated: the temp disk and its key are gone"
                   : daemon          ? "allocated, but the daemon could not make its temp disk"
                                     : "made with a fresh key when hostcryptd serves the instance";
    return tier;
}

json instance_view(CallContext& call, const InstanceRecord& record, bool with_tiers) {
    json disks = json::array();
    json caches = json::object();
    for (const instance::AttachedDisk& attached : record.disks) {
        disks.push_back(attached.disk);
        if (attached.cache) {
            caches[attached.disk] = {{"mode", disk::to_string(attached.cache->mode)},
                                     {"size", attached.cache->size}};
        }
    }
    json view{{"name", record.name},
              {"allocated", record.allocated},
              {"created", format_utc(record.created)},
              {"temp", {{"size", record.temp.size}, {"sector_size", record.temp.sector_size}}},
              {"disks", disks},
              {"caches", caches}};
    if (with_tiers) {
        const json live = call.daemon != nullptr ? call.daemon->live_status() : json::object();
        json tiers = json::array();
        for (const instance::AttachedDisk& attached : record.disks) {
            tiers.push_back(persisted_tier(call, record, attached.disk, live));
            if (attached.cache) {
                tiers.push_back(cache_tier(record, attached, live));
            }
        }
        tiers.push_back(temp_tier(record, live, call.daemon != nullptr));
        view["tiers"] = tiers;
    }
    return view;
}

json with_problems(json view, json problems) {
    if (!problems.empty()) {
        view["not_served"] = std::move(problems);
    }
    return view;
}

json create(CallContext& call, Params& params) {
    InstanceRecord record;
    record.name = params.required_string("name");
    record.temp.size = params.required_uint("temp_size");
    record.temp.sector_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(
        params.optional_uint("temp_sector_size").value_or(4096), UINT32_MAX));
    const std::vector<std::string> disks = params.string_list("disks");
    record.allocated = params.bool_or("allocated", true);
    params.finish();
    record.created = system_now();

    disk::check_geometry(record.temp.size, record.temp.sector_size, disk::max_backing_size,
                         instance::export_name(record.name, instance::temp_disk_name));
    try {
        call.state.instances().get(record.name);
        throw InstanceError(InstanceErrc::already_exists,
                            fmt::format("instance {} already exists", record.name));
    } catch (const InstanceError& error) {
        if (error.code() != InstanceErrc::not_found) {
            throw;
        }
    }
    for (const std::string& disk : disks) {
        if (record.find(disk) != nullptr) {
            throw InstanceError(
                InstanceErrc::invalid_argument,
                fmt::format("instance {}: disk {} is named twice", record.name, disk));
        }
        check_attachable(call, record, disk);
        record.disks.push_back({disk, std::nullopt});
    }
    // The disks stop being served under their own names, allocated or not.
    json problems = change_record(call, disks, exports_of(record),
                                  [&](instance::InstanceCatalog& c) { c.add(record); });
    return with_problems(instance_view(call, record, true), std::move(problems));
}

json list(CallContext& call, Params& params) {
    params.finish();
    std::map<std::string, std::string> unreadable;
    json result = json::array();
    for (const InstanceRecord& record : call.state.instances().readable(unreadable)) {
        result.push_back(instance_view(call, record, false));
    }
    for (const auto& [name, why] : unreadable) {
        result.push_back({{"name", name}, {"error", why}});
    }
    return result;
}

json show(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    return instance_view(call, call.state.instances().get(name), true);
}

json attach(CallContext& call, Params& params) {
    const std::string name = params.required_string("instance");
    const std::string disk = params.required_string("disk");
    const std::optional<std::string> cache_mode = params.optional_string("cache");
    const std::optional<std::uint64_t> cache_size = params.optional_uint("cache_size");
    params.finish();
    InstanceRecord record = call.state.instances().get(name);
    check_attachable(call, record, disk);
    record.disks.push_back(
        {disk, cache_setting(call.state.catalog().get(disk), disk, cache_mode, cache_size)});
    json problems = change_record(call, {disk}, exports_of(record),
                                  [&](instance::InstanceCatalog& c) { c.save(record); });
    return with_problems(instance_view(call, record, true), std::move(problems));
}

json detach(CallContext& call, Params& params) {
    const std::string name = params.required_string("instance");
    const std::string disk = params.required_string("disk");
    params.finish();
    InstanceRecord record = call.state.instances().get(name);
    if (record.find(disk) == nullptr) {
        throw InstanceError(InstanceErrc::not_found,
                            fmt::format("disk {} is not attached to instance {}", disk, name));
    }
    std::erase_if(record.disks,
                  [&](const instance::AttachedDisk& item) { return item.disk == disk; });
    std::vector<std::string> released;
    if (record.allocated) {
        released.push_back(instance::export_name(name, disk));
    }
    std::vector<std::string> relevant = exports_of(record);
    relevant.push_back(disk);  // served under its own name again
    json problems = change_record(call, released, relevant,
                                  [&](instance::InstanceCatalog& c) { c.save(record); });
    return with_problems(instance_view(call, record, true), std::move(problems));
}

json allocate(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    InstanceRecord record = call.state.instances().get(name);
    const bool changed = !record.allocated;
    record.allocated = true;
    json problems = changed ? change_record(call, {}, exports_of(record),
                                            [&](instance::InstanceCatalog& c) { c.save(record); })
                            : json::object();
    json view = with_problems(instance_view(call, record, true), std::move(problems));
    view["changed"] = changed;
    return view;
}

json deallocate(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    InstanceRecord record = call.state.instances().get(name);
    const bool changed = record.allocated;
    if (changed) {
        record.allocated = false;
        change_record(call, exports_of(record), {},
                      [&](instance::InstanceCatalog& c) { c.save(record); });
    }
    json view = instance_view(call, record, true);
    view["changed"] = changed;
    return view;
}

json remove(CallContext& call, Params& params) {
    const std::string name = params.required_string("name");
    params.finish();
    const InstanceRecord record = call.state.instances().get(name);
    change_record(call, record.allocated ? exports_of(record) : std::vector<std::string>{}, {},
                  [&](instance::InstanceCatalog& c) { c.remove(name); });
    json detached = json::array();
    for (const instance::AttachedDisk& attached : record.disks) {
        detached.push_back(attached.disk);
    }
    return {{"name", name}, {"deleted", true}, {"detached", detached}};
}

const std::array table{
    Method{"instance.create", Role::disk_operator, create},
    Method{"instance.list", Role::reader, list},
    Method{"instance.show", Role::reader, show},
    Method{"instance.attach", Role::disk_operator, attach},
    Method{"instance.detach", Role::disk_operator, detach},
    Method{"instance.allocate", Role::disk_operator, allocate},
    Method{"instance.deallocate", Role::disk_operator, deallocate},
    Method{"instance.delete", Role::disk_operator, remove},
};

}  // namespace

std::span<const Method> instance_methods() {
    return table;
}

}  // namespace hostcrypt::control
