#pragma once

// What every command shares: global options, where its calls go, and the
// output writer. A command turns its arguments into one control call
// (lib/control/methods.hpp) and prints the result; the call runs in
// hostcryptd through its control socket when the daemon owns the state
// directory, and here, on the locked state directory, when it does not — the
// same code either way, so the output is the same.

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "control/control_client.hpp"
#include "control/state_directory.hpp"

namespace hostcrypt::tools {

class Context {
  public:
    Context();
    ~Context();

    std::filesystem::path state_directory = "/var/lib/hostcrypt";
    bool state_given = false;    // --state or $HOSTCRYPT_STATE
    std::string control_socket;  // --control or $HOSTCRYPT_CONTROL: the daemon, or fail
    bool offline = false;        // --offline: never the daemon
    bool json_output = false;
    // A command that succeeded only in part sets this (control::ExitCode).
    int exit_code = 0;

    // Runs a control method; throws what it throws (classified by
    // control::classify). `progress` is shown for offline work only.
    nlohmann::json call(std::string_view method, const nlohmann::json& params = nullptr,
                        std::function<void(std::uint64_t, std::uint64_t)> progress = {});
    // Whether the calls go to a running daemon (decided on first use).
    bool via_daemon();
    // A new connection to the same daemon, for calls that must get through
    // even if the old connection broke (the drill's clean-up).
    void reconnect();

    // Prints `result` as JSON with --json, else through `human`.
    template <typename Human>
    void emit(const nlohmann::json& result, Human&& human) const {
        if (json_output) {
            print_json(result);
        } else {
            human(result);
        }
    }
    static void print_json(const nlohmann::json& result);

    // Who the vault audit log names: the real user of this process.
    static std::string actor();

  private:
    void choose_backend();

    bool chosen_ = false;
    std::optional<control::ControlClient> daemon_;
    std::filesystem::path daemon_socket_;
    std::unique_ptr<control::StateDirectory> state_;
};

}  // namespace hostcrypt::tools
