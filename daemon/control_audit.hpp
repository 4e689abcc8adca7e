#pragma once

// The control API's audit log, <state>/control-audit.log: one JSON line per
// call — who (the kernel's credentials), what (method and params), and the
// outcome, refusals included — written durably before the answer goes out.
// Params hold names, sizes and times, never key material.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/authorization.hpp"

namespace hostcrypt::daemon {

class ControlAudit {
  public:
    explicit ControlAudit(std::filesystem::path file) : file_(std::move(file)) {}

    // `outcome` is "ok", "refused" or "failed"; `error` the message for the
    // latter two. A record that cannot be written is logged with the reason
    // (the call has happened; the journal keeps the trace).
    void record(const PeerCredentials& caller, const std::string& method,
                const nlohmann::json& params, const std::string& outcome,
                const std::string& error = {}) const;

  private:
    std::filesystem::path file_;
};

}  // namespace hostcrypt::daemon
