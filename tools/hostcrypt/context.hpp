#pragma once

// What every command shares: global options, the state directory (opened and
// locked on first use) and the output writer.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/directory_lock.hpp"
#include "disk/disk_catalog.hpp"
#include "keys/encryption_set.hpp"
#include "keys/key_providers.hpp"

namespace hostcrypt::tools {

class Context {
  public:
    std::filesystem::path state_directory = "/var/lib/hostcrypt";
    bool json_output = false;
    // A command that succeeded only in part sets this (ExitCode).
    int exit_code = 0;

    // Opens and locks the state directory on first call.
    keys::KeyProviders& providers();
    keys::SetStore& sets();
    disk::DiskCatalog& catalog();

    // Prints `result` as JSON with --json, else through `human`.
    template <typename Human>
    void emit(const nlohmann::json& result, Human&& human) const {
        if (json_output) {
            print_json(result);
        } else {
            human(result);
        }
    }
    static void print_json(const nlohmann::json& result);

    // Who the vault audit log names: the real user of this process.
    static std::string actor();

  private:
    void open_state();

    std::optional<DirectoryLock> lock_;
    std::unique_ptr<keys::KeyProviders> providers_;
    std::unique_ptr<keys::SetStore> sets_;
    std::unique_ptr<disk::DiskCatalog> catalog_;
};

}  // namespace hostcrypt::tools
