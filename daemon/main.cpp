// hostcryptd: serves the encrypted disks of a state directory over NBD.
//
// The main thread parses the configuration, starts the control plane and the
// server and then only waits for signals: SIGHUP reloads the catalog,
// SIGTERM and SIGINT stop the daemon gracefully (exit 0). The data path runs
// on reactor threads, control calls and key checks on the control thread.

#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <optional>
#include <signal.h>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <variant>

#include <fmt/format.h>

#include "crypto/gcrypt_handles.hpp"
#include "daemon/command_line.hpp"
#include "daemon/control_plane.hpp"
#include "daemon/log.hpp"
#include "daemon/notify.hpp"
#include "daemon/server.hpp"

namespace {

using hostcrypt::daemon::log;

// Unwrapped keys live in this process: it must never leave a core dump, and
// other processes of the same user must not read its memory.
void protect_key_memory() {
    const rlimit no_core{0, 0};
    if (::setrlimit(RLIMIT_CORE, &no_core) != 0) {
        log("warning: cannot disable core dumps: {}", std::strerror(errno));
    }
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        log("warning: cannot mark the process non-dumpable: {}", std::strerror(errno));
    }
}

// Blocked in every thread (reactor threads inherit the mask) so that only
// the main thread's sigwait sees them; SIGPIPE is ignored because sends use
// MSG_NOSIGNAL and a vanished client is an ordinary event.
sigset_t handled_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    return signals;
}

std::string listener_list(const hostcrypt::daemon::DaemonConfig& config) {
    std::string text;
    for (const auto& address : config.listeners) {
        text += (text.empty() ? "" : ", ") + address.to_string();
    }
    return text;
}

void report_notify_failure(std::error_code error) {
    if (error) {
        log("warning: cannot notify systemd: {}", error.message());
    }
}

int serve(const hostcrypt::daemon::DaemonConfig& config) {
    using namespace hostcrypt::daemon;
    const sigset_t signals = handled_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    protect_key_memory();

    Server server(config);
    std::optional<ControlPlane> control;
    try {
        log("sector cipher: AES-256-XTS in {}", hostcrypt::crypto::gcrypt_description());
        control.emplace(config, server);
        control->load_catalog();
        server.start();
        control->start();
    } catch (const std::exception& error) {
        log("cannot start: {}", error.what());
        return 1;
    }
    const std::string ready =
        fmt::format("serving {} export(s) from {} on {}", control->served_count(),
                    config.state_directory.string(), listener_list(config));
    log("ready: {}; control socket {}", ready, config.control.socket.string());
    report_notify_failure(notify_ready(ready));

    for (;;) {
        const int signal_number = sigwaitinfo(&signals, nullptr);
        if (signal_number < 0) {
            continue;  // EINTR
        }
        if (signal_number == SIGHUP) {
            log("SIGHUP: reloading the catalog");
            report_notify_failure(notify_reloading());
            control->request_reload();  // READY=1 again once done
            continue;
        }
        log("{}: finishing requests in flight, then stopping", strsignal(signal_number));
        report_notify_failure(notify_stopping());
        control->stop();
        server.stop();
        control.reset();  // erases the temp disks, now that no request can reach them
        log("stopped");
        return 0;
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        auto parsed = hostcrypt::daemon::parse_command_line(argc, argv, std::cout, std::cerr);
        if (auto* exit_request = std::get_if<hostcrypt::daemon::ExitRequest>(&parsed)) {
            return exit_request->exit_code;
        }
        return serve(std::get<hostcrypt::daemon::DaemonConfig>(parsed));
    } catch (const std::exception& error) {
        log("{}", error.what());
        return 1;
    }
}
