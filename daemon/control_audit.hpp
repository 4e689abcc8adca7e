#pragma once

// The control API's audit log, <state>/control-audit.log: one JSON line per
// call — who (the kernel's credentials), what (method and params), and the
// outcome, refusals included — written durably before the answer goes out;
// a call that changes state is also recorded before it starts, and not
// made if that record cannot be written. Params hold names, sizes and
// times, never key material.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/authorization.hpp"

namespace hostcrypt::daemon {

class ControlAudit {
  public:
    explicit ControlAudit(std::filesystem::path file) : file_(std::move(file)) {}

    // `outcome` is "started" (before a call that changes state), "ok",
    // "refused" or "failed"; `error` the message for the latter two. Params
    // longer than max_params_bytes are recorded as their size only, so that
    // nobody fills the state directory's file system through the log.
    // Returns false (and logs the record) if it could not be written.
    static constexpr std::size_t max_params_bytes = 4096;
    bool record(const PeerCredentials& caller, const std::string& method,
                const nlohmann::json& params, const std::string& outcome,
                const std::string& error = {}) const;

  private:
    std::filesystem::path file_;
};

}  // namespace hostcrypt::daemon
