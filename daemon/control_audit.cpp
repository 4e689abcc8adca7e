#include "daemon/control_audit.hpp"

#include <pwd.h>

#include "common/files.hpp"
#include "common/utc_time.hpp"
#include "daemon/log.hpp"

namespace hostcrypt::daemon {

using nlohmann::json;

bool ControlAudit::record(const PeerCredentials& caller, const std::string& method,
                          const json& params, const std::string& outcome,
                          const std::string& error) const {
    const std::string params_text = params.dump(-1, ' ', false, json::error_handler_t::replace);
    const passwd* user = ::getpwuid(caller.uid);
    json line{{"time", format_utc(system_now())},
              {"caller",
               {{"user", user != nullptr ? json(user->pw_name) : json(nullptr)},
                {"uid", caller.uid},
                {"gid", caller.gid},
                {"pid", caller.pid}}},
              {"method", method.substr(0, 256)},
              {"params", params_text.size() <= max_params_bytes
                             ? params
                             : json{{"truncated_bytes", params_text.size()}}},
              {"outcome", outcome}};
    if (!error.empty()) {
        line["error"] = error;
    }
    const std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace);
    try {
        // Owner-only, like the rest of the state directory.
        append_line_durably(file_, text, 0600);
        return true;
    } catch (const std::exception& failure) {
        log("control audit log {} not written ({}): {}", file_.string(), failure.what(), text);
        return false;
    }
}

}  // namespace hostcrypt::daemon
