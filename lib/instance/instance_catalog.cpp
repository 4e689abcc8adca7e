#include "instance/instance_catalog.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "common/files.hpp"
#include "instance/instance_error.hpp"
#include "keys/keys_error.hpp"

namespace hostcrypt::instance {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json to_json(const InstanceRecord& record) {
    json disks = json::array();
    for (const AttachedDisk& attached : record.disks) {
        json item = {{"disk", attached.disk}};
        if (attached.cache) {
            item["cache"] = {{"mode", disk::to_string(attached.cache->mode)},
                             {"size", attached.cache->size}};
        }
        disks.push_back(std::move(item));
    }
    return {{"format", 1},
            {"name", record.name},
            {"created", format_utc(record.created)},
            {"allocated", record.allocated},
            {"temp", {{"size", record.temp.size}, {"sector_size", record.temp.sector_size}}},
            {"disks", disks}};
}

InstanceRecord from_json(const json& document) {
    InstanceRecord record;
    record.name = document.at("name").get<std::string>();
    record.created = parse_utc(document.at("created").get<std::string>());
    record.allocated = document.at("allocated").get<bool>();
    record.temp.size = document.at("temp").at("size").get<std::uint64_t>();
    record.temp.sector_size = document.at("temp").at("sector_size").get<std::uint32_t>();
    for (const json& attached : document.at("disks")) {
        AttachedDisk item{attached.at("disk").get<std::string>(), std::nullopt};
        if (attached.contains("cache")) {
            const json& cache = attached.at("cache");
            item.cache =
                disk::CacheSpec{cache.at("size").get<std::uint64_t>(),
                                disk::parse_cache_mode(cache.at("mode").get<std::string>())};
        }
        record.disks.push_back(std::move(item));
    }
    return record;
}

}  // namespace

fs::path InstanceCatalog::file_of(const std::string& name) const {
    try {
        keys::check_name(name, "instance");
    } catch (const keys::KeysError& error) {
        throw InstanceError(InstanceErrc::invalid_argument, error.what());
    }
    return directory_ / (name + ".json");
}

void InstanceCatalog::write(const InstanceRecord& record) {
    ensure_private_directory(directory_);
    write_text_file_atomically(file_of(record.name), to_json(record).dump(2) + "\n", 0600);
}

void InstanceCatalog::add(const InstanceRecord& record) {
    if (fs::exists(file_of(record.name))) {
        throw InstanceError(InstanceErrc::already_exists,
                            fmt::format("instance {} already exists", record.name));
    }
    write(record);
}

InstanceRecord InstanceCatalog::get(const std::string& name) const {
    const fs::path file = file_of(name);
    if (!fs::exists(file)) {
        throw InstanceError(InstanceErrc::not_found, fmt::format("no instance named {}", name));
    }
    try {
        InstanceRecord record = from_json(json::parse(read_text_file(file)));
        if (record.name != name) {
            throw std::invalid_argument(fmt::format("it names instance {}", record.name));
        }
        return record;
    } catch (const std::exception& error) {
        throw InstanceError(
            InstanceErrc::corrupt,
            fmt::format("instance record {} is unreadable: {}", file.string(), error.what()));
    }
}

std::vector<InstanceRecord> InstanceCatalog::list() const {
    std::vector<InstanceRecord> records;
    for (const std::string& name : file_stems(directory_, ".json")) {
        records.push_back(get(name));
    }
    return records;
}

std::vector<InstanceRecord> InstanceCatalog::readable(
    std::map<std::string, std::string>& unreadable) const {
    std::vector<InstanceRecord> records;
    for (const std::string& name : file_stems(directory_, ".json")) {
        try {
            records.push_back(get(name));
        } catch (const InstanceError& error) {
            unreadable[name] = error.what();
        }
    }
    return records;
}

void InstanceCatalog::save(const InstanceRecord& record) {
    if (!fs::exists(file_of(record.name))) {
        throw InstanceError(InstanceErrc::not_found,
                            fmt::format("no instance named {}", record.name));
    }
    write(record);
}

void InstanceCatalog::remove(const std::string& name) {
    if (!fs::remove(file_of(name))) {
        throw InstanceError(InstanceErrc::not_found, fmt::format("no instance named {}", name));
    }
}

std::optional<std::string> InstanceCatalog::attached_to(const std::string& disk) const {
    std::map<std::string, std::string> unreadable;
    for (const InstanceRecord& record : readable(unreadable)) {
        if (record.find(disk) != nullptr) {
            return record.name;
        }
    }
    return std::nullopt;
}

}  // namespace hostcrypt::instance
