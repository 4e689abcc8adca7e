#include "error_report.hpp"

#include <iostream>
#include <nlohmann/json.hpp>

#include "control/control_error.hpp"

namespace hostcrypt::tools {

int report_error(const std::exception& error, const Context& context) {
    const control::ErrorClass classified = control::classify(error);
    std::cerr << "hostcrypt: " << error.what() << '\n';
    if (context.json_output) {
        Context::print_json({{"error",
                              {{"kind", classified.kind},
                               {"message", error.what()},
                               {"exit_code", classified.code}}}});
    }
    return classified.code;
}

}  // namespace hostcrypt::tools
