#include "daemon/notify.hpp"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <string>
#include <systemd/sd-daemon.h>

#include <fmt/format.h>

namespace hostcrypt::daemon {

namespace {

std::error_code send(const std::string& message) {
    // unset_environment = 0: NOTIFY_SOCKET is needed again for every later call.
    const int result = ::sd_notify(0, message.c_str());
    return result < 0 ? std::error_code(-result, std::generic_category()) : std::error_code();
}

std::string status_line(std::string_view status) {
    // A newline would start another assignment (a status could say
    // STOPPING=1), and a NUL would cut the message short.
    std::string line = "STATUS=";
    line.append(status);
    std::replace_if(
        line.begin(), line.end(), [](char c) { return c == '\n' || c == '\0'; }, ' ');
    return line;
}

}  // namespace

std::error_code notify_ready(std::string_view status) {
    return send(status.empty() ? "READY=1" : "READY=1\n" + status_line(status));
}

std::error_code notify_reloading() {
    // The clock systemd compares against: CLOCK_MONOTONIC, not steady_clock,
    // whose clock the standard leaves open.
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
                      static_cast<std::uint64_t>(now.tv_nsec) / 1'000U;
    return send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec));
}

std::error_code notify_stopping() {
    return send("STOPPING=1");
}

std::error_code notify_status(std::string_view status) {
    return send(status_line(status));
}

}  // namespace hostcrypt::daemon
