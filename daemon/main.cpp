// hostcryptd: serves the encrypted disks of a state directory over NBD.
//
// The main thread parses the configuration, starts the server and then only
// waits for signals: SIGHUP reloads the catalog, SIGTERM and SIGINT stop the
// daemon gracefully (exit 0). Everything else happens on reactor threads.

#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <signal.h>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <variant>

#include "daemon/command_line.hpp"
#include "daemon/log.hpp"
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

int serve(const hostcrypt::daemon::DaemonConfig& config) {
    const sigset_t signals = handled_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    protect_key_memory();

    hostcrypt::daemon::Server server(config);
    try {
        server.start();
    } catch (const std::exception& error) {
        log("cannot start: {}", error.what());
        return 1;
    }
    log("ready: serving {} export(s) from {} on {}", server.export_count(),
        config.state_directory.string(), listener_list(config));

    server.rotate_platform_key_if_due();
    for (;;) {
        // Wakes for a signal, or hourly to check the platform key's age.
        const timespec check_interval{3600, 0};
        const int signal_number = sigtimedwait(&signals, nullptr, &check_interval);
        if (signal_number < 0) {
            if (errno == EAGAIN) {
                server.rotate_platform_key_if_due();
            }
            continue;
        }
        if (signal_number == SIGHUP) {
            log("SIGHUP: reloading the catalog");
            try {
                server.reload();
            } catch (const std::exception& error) {
                log("reload failed, still serving what was loaded before: {}", error.what());
            }
            log("serving {} export(s)", server.export_count());
            continue;
        }
        log("{}: finishing requests in flight, then stopping", strsignal(signal_number));
        server.stop();
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
