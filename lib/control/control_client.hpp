#pragma once

// The command line's end of the control socket: one connection, one call at
// a time, each bounded in time.

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.hpp"

namespace hostcrypt::control {

class ControlClient {
  public:
    // Connects to the daemon's control socket. Returns nullopt when no
    // daemon listens there (no socket file, or a stale one: the daemon is
    // not running); throws ControlError(exit_unavailable) for anything else,
    // e.g. a socket the caller may not use.
    static std::optional<ControlClient> connect(const std::filesystem::path& socket);

    // Sends one request and waits up to `timeout` for its response; returns
    // the result, or throws ControlError with the class the daemon answered
    // (or exit_unavailable if the daemon went away or timed out, after which
    // this connection refuses further calls).
    nlohmann::json call(std::string_view method, const nlohmann::json& params,
                        std::chrono::milliseconds timeout = std::chrono::minutes(30));

  private:
    ControlClient(UniqueFd socket, std::filesystem::path path)
        : socket_(std::move(socket)), path_(std::move(path)) {}

    nlohmann::json exchange(std::string_view method, const nlohmann::json& params,
                            std::chrono::milliseconds timeout);
    std::string read_line(std::chrono::steady_clock::time_point deadline);

    UniqueFd socket_;
    std::filesystem::path path_;
    std::string buffered_;
    std::uint64_t next_id_ = 1;
};

// Where a running daemon that owns `state_directory` said its control socket
// is (<state>/daemon.json), if that file exists and can be read.
std::optional<std::filesystem::path> recorded_control_socket(
    const std::filesystem::path& state_directory);
// The file the daemon records it in.
std::filesystem::path daemon_record_path(const std::filesystem::path& state_directory);

}  // namespace hostcrypt::control
