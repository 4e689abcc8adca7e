#pragma once

// The fixture of the control method tests: a fresh, locked state directory
// to run methods against, and a fake daemon that records what they tell it.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "control/control_error.hpp"
#include "control/exit_codes.hpp"
#include "control/methods.hpp"
#include "support/temp_dir.hpp"

namespace hostcrypt::control::testing {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::uint64_t mib = 1024 * 1024;

// A daemon that records what the methods tell it.
class FakeDaemon : public LiveDaemon {
  public:
    std::vector<std::string> calls;
    std::string serve_problem;   // what disk_created answers
    bool refuse_delete = false;  // disk_deleting throws
    std::string busy_export;     // exports_releasing refuses while it is among them
    std::map<std::string, std::string> unserved;  // what serving_changed answers
    json live{{"daemon", {{"running", true}, {"pid", 4242}}}, {"disks", json::object()}};

    std::string disk_created(const hostcrypt::disk::CatalogEntry& entry) override {
        calls.push_back("disk_created " + entry.name);
        return serve_problem;
    }
    void disk_deleting(const std::string& name) override {
        calls.push_back("disk_deleting " + name);
        if (refuse_delete) {
            throw ControlError(exit_refused, "refused", "disk " + name + " has clients");
        }
    }
    std::map<std::string, std::string> serving_changed() override {
        calls.push_back("serving_changed");
        return unserved;
    }
    void exports_releasing(const std::vector<std::string>& exports) override {
        std::string list;
        for (const std::string& name : exports) {
            list += (list.empty() ? "" : " ") + name;
        }
        calls.push_back("exports_releasing " + list);
        if (std::find(exports.begin(), exports.end(), busy_export) != exports.end()) {
            throw ControlError(exit_refused, "refused", busy_export + " is in use");
        }
    }
    void keys_changed() override { calls.push_back("keys_changed"); }
    json live_status() override {
        calls.push_back("live_status");
        return live;
    }
    json configure_monitor(Params& params) override {
        calls.push_back("configure_monitor");
        return {{"grace", params.string_or("grace", "1h")}};
    }
};

// A fresh, locked state directory and the calls made against it.
struct MethodsTest {
    hostcrypt::test::TempDir temp;
    fs::path state_path = temp / "state";
    StateDirectory state{state_path, "test-actor"};
    CallContext call{state, nullptr, {}};

    json run(std::string_view name, const json& params = nullptr) {
        INFO(name << " " << params);
        const Method* method = find_method(name);
        REQUIRE(method != nullptr);
        return invoke(*method, call, params);
    }

    // A call that must fail: its class (as the daemon would answer it) and message.
    std::pair<ErrorClass, std::string> failure(std::string_view name,
                                               const json& params = nullptr) {
        try {
            run(name, params);
        } catch (const std::exception& error) {
            return {classify(error), error.what()};
        }
        FAIL("expected " << name << " " << params << " to fail");
        return {};
    }

    void check_failure(std::string_view name, const json& params, int code, const std::string& kind,
                       const std::string& message_part) {
        const auto [error_class, message] = failure(name, params);
        INFO(message);
        CHECK(error_class.code == code);
        CHECK(error_class.kind == kind);
        CHECK_THAT(message, Catch::Matchers::Contains(message_part));
    }

    fs::path backing(const std::string& disk) const {
        return state_path / "disks" / (disk + ".img");
    }

    void add_platform_set(const std::string& name = "plat") {
        run("set.create", {{"name", name}, {"type", "platform"}});
    }
    void add_vault_key(const std::string& name = "k1") {
        run("vault.key.create", {{"name", name}, {"type", "aes-256"}});
    }
    void add_customer_set(const std::string& name = "cust", const std::string& key = "k1") {
        run("set.create", {{"name", name}, {"type", "customer"}, {"key", key}});
    }
    json add_disk(const std::string& name, const std::string& set = "plat",
                  std::uint64_t size = mib) {
        return run("disk.create", {{"name", name}, {"set", set}, {"size", size}});
    }

    std::vector<std::string> disk_names() {
        std::vector<std::string> names;
        for (const json& disk : run("disk.list")) {
            names.push_back(disk.at("name").get<std::string>());
        }
        return names;
    }
};

using Names = std::vector<std::string>;

}  // namespace hostcrypt::control::testing
