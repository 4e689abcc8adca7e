#include "control/methods.hpp"

#include <vector>

#include <fmt/format.h>

#include "control/control_error.hpp"
#include "control/exit_codes.hpp"

namespace hostcrypt::control {

std::span<const Method> methods() {
    static const std::vector<Method> all = [] {
        std::vector<Method> joined;
        for (const auto area : {key_methods(), set_methods(), disk_methods(), instance_methods(),
                                platform_methods(), status_methods()}) {
            joined.insert(joined.end(), area.begin(), area.end());
        }
        return joined;
    }();
    return all;
}

const Method* find_method(std::string_view name) {
    for (const Method& method : methods()) {
        if (method.name == name) {
            return &method;
        }
    }
    return nullptr;
}

nlohmann::json invoke(const Method& method, CallContext& call, const nlohmann::json& params) {
    if (method.needs_daemon && call.daemon == nullptr) {
        throw ControlError(exit_unavailable, "daemon-not-running",
                           fmt::format("{} needs a running hostcryptd", method.name));
    }
    Params checked(params);
    nlohmann::json result = method.handler(call, checked);
    checked.finish();
    return result;
}

}  // namespace hostcrypt::control
