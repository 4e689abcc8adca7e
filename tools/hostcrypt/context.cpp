#include "context.hpp"

#include <iostream>
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "control/control_error.hpp"
#include "control/exit_codes.hpp"
#include "control/methods.hpp"

namespace hostcrypt::tools {

namespace fs = std::filesystem;

namespace {

// Where hostcryptd.service puts its control socket (systemd/hostcryptd.service).
const fs::path default_control_socket = "/run/hostcrypt/control.sock";

// A connection to the daemon at `socket`, or exit 10 when none answers there.
control::ControlClient required_daemon(const fs::path& socket) {
    std::optional<control::ControlClient> client = control::ControlClient::connect(socket);
    if (!client) {
        throw control::ControlError(control::exit_unavailable, "daemon-unavailable",
                                    fmt::format("no hostcryptd listens on {}", socket.string()));
    }
    return std::move(*client);
}

}  // namespace

Context::Context() = default;
Context::~Context() = default;

void Context::choose_backend() {
    if (chosen_) {
        return;
    }
    chosen_ = true;
    if (!control_socket.empty()) {
        daemon_socket_ = control_socket;
        daemon_ = required_daemon(daemon_socket_);
        return;
    }
    if (!offline) {
        // The daemon records its socket in the state directory it owns; a
        // caller who may not read that directory (a reader or operator who
        // is not root) finds the systemd service's socket instead.
        std::optional<fs::path> socket = control::recorded_control_socket(state_directory);
        if (!socket && !state_given) {
            socket = default_control_socket;
        }
        if (socket) {
            daemon_socket_ = *socket;
            daemon_ = control::ControlClient::connect(*socket);
        }
    }
    if (!daemon_) {
        state_ = std::make_unique<control::StateDirectory>(state_directory, actor());
    }
}

bool Context::via_daemon() {
    choose_backend();
    return daemon_.has_value();
}

void Context::reconnect() {
    if (daemon_) {
        daemon_.reset();
        daemon_ = required_daemon(daemon_socket_);
    }
}

nlohmann::json Context::call(std::string_view method, const nlohmann::json& params,
                             std::function<void(std::uint64_t, std::uint64_t)> progress) {
    choose_backend();
    if (daemon_) {
        return daemon_->call(method, params);
    }
    const control::Method* found = control::find_method(method);
    if (found == nullptr) {
        throw control::ControlError(control::exit_failed, "failed",
                                    fmt::format("no control method {}", method));
    }
    control::CallContext call{*state_, nullptr, std::move(progress)};
    return control::invoke(*found, call, params);
}

void Context::print_json(const nlohmann::json& result) {
    std::cout << result.dump(2) << '\n';
}

std::string Context::actor() {
    const uid_t uid = ::getuid();
    const passwd* entry = ::getpwuid(uid);
    return fmt::format("{} (uid {}) via hostcrypt", entry != nullptr ? entry->pw_name : "?", uid);
}

}  // namespace hostcrypt::tools
