#include "disk/disk_catalog.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "disk/disk_error.hpp"
#include "keys/keys_error.hpp"

namespace hostcrypt::disk {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path DiskCatalog::file_of(const std::string& name) const {
    try {
        keys::check_name(name, "disk");
    } catch (const keys::KeysError& error) {
        throw DiskError(DiskErrc::invalid_argument, error.what());
    }
    return directory_ / (name + ".json");
}

void DiskCatalog::ensure_directory() const {
    // Private like the rest of the state: names and paths are nobody's business.
    ensure_private_directory(directory_);
}

fs::path DiskCatalog::default_backing_path(const std::string& name) const {
    const fs::path path = file_of(name).replace_extension(".img");
    ensure_directory();
    return path;
}

void DiskCatalog::add(const CatalogEntry& entry) {
    const fs::path file = file_of(entry.name);
    if (fs::exists(file)) {
        throw DiskError(DiskErrc::already_exists,
                        fmt::format("disk {} already exists", entry.name));
    }
    json document{{"format", 1},
                  {"name", entry.name},
                  {"path", fs::absolute(entry.path).string()},
                  {"set", entry.set},
                  {"created", format_utc(entry.created)}};
    if (!entry.uuid.empty()) {
        document["uuid"] = entry.uuid;
    }
    ensure_directory();
    write_text_file_atomically(file, document.dump(2) + "\n", 0600);
}

CatalogEntry DiskCatalog::get(const std::string& name) const {
    const fs::path file = file_of(name);
    if (!fs::exists(file)) {
        throw DiskError(DiskErrc::not_found, fmt::format("no disk named {}", name));
    }
    try {
        const json document = json::parse(read_text_file(file));
        return {document.at("name").get<std::string>(), document.at("path").get<std::string>(),
                document.at("set").get<std::string>(),
                parse_utc(document.at("created").get<std::string>()),
                document.value("uuid", std::string())};
    } catch (const std::exception& error) {
        throw DiskError(DiskErrc::corrupt, fmt::format("catalog entry {} is unreadable: {}",
                                                       file.string(), error.what()));
    }
}

std::vector<CatalogEntry> DiskCatalog::list() const {
    std::vector<CatalogEntry> entries;
    for (const std::string& name : file_stems(directory_, ".json")) {
        entries.push_back(get(name));
    }
    return entries;
}

void DiskCatalog::remove(const std::string& name) {
    if (!fs::remove(file_of(name))) {
        throw DiskError(DiskErrc::not_found, fmt::format("no disk named {}", name));
    }
}

}  // namespace hostcrypt::disk
