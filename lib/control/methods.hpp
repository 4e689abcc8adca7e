#pragma once

// The control API's methods: one table, used by hostcryptd to answer
// JSON-RPC calls and by the `hostcrypt` command line to run the same code
// offline. A method validates its params, does its work through lib/ and
// returns the JSON view the command line prints; failures are exceptions
// (control_error.hpp classifies them).

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>

#include "control/live_daemon.hpp"
#include "control/params.hpp"
#include "control/role.hpp"
#include "control/state_directory.hpp"

namespace hostcrypt::control {

struct CallContext {
    StateDirectory& state;
    LiveDaemon* daemon = nullptr;  // null when offline
    // Long operations (preallocating a disk) report (done, total) here.
    std::function<void(std::uint64_t, std::uint64_t)> progress;
    // Root or the daemon's own user; offline the caller acts with its own
    // file permissions and is privileged for these purposes.
    bool privileged = true;
};

using MethodHandler = nlohmann::json (*)(CallContext& call, Params& params);

struct Method {
    std::string_view name;  // "disk.create"
    Role role;              // the role a caller needs
    MethodHandler handler;
    bool needs_daemon = false;  // only meaningful while hostcryptd runs
};

std::span<const Method> methods();
// Null if there is no such method.
const Method* find_method(std::string_view name);

// Runs `method` with `params`; Params::finish() rejects unknown parameters.
nlohmann::json invoke(const Method& method, CallContext& call, const nlohmann::json& params);

// The method tables of each area (methods.cpp joins them).
std::span<const Method> key_methods();
std::span<const Method> set_methods();
std::span<const Method> disk_methods();
std::span<const Method> instance_methods();
std::span<const Method> platform_methods();
std::span<const Method> status_methods();

}  // namespace hostcrypt::control
