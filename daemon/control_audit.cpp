#include "daemon/control_audit.hpp"

#include <pwd.h>

#include "common/files.hpp"
#include "common/utc_time.hpp"
#include "daemon/log.hpp"

namespace hostcrypt::daemon {

using nlohmann::json;

void ControlAudit::record(const PeerCredentials& caller, const std::string& method,
                          const json& params, const std::string& outcome,
                          const std::string& error) const {
    const passwd* user = ::getpwuid(caller.uid);
    json line{{"time", format_utc(system_now())},
              {"caller",
               {{"user", user != nullptr ? json(user->pw_name) : json(nullptr)},
                {"uid", caller.uid},
                {"gid", caller.gid},
                {"pid", caller.pid}}},
              {"method", method},
              {"params", params},
              {"outcome", outcome}};
    if (!error.empty()) {
        line["error"] = error;
    }
    const std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace);
    try {
        // Owner-only, like the rest of the state directory.
        append_line_durably(file_, text, 0600);
    } catch (const std::exception& failure) {
        log("control audit log {} not written ({}): {}", file_.string(), failure.what(), text);
    }
}

}  // namespace hostcrypt::daemon
