#pragma once

// JSON-RPC 2.0 as the control socket speaks it (docs/control-api.md): one
// JSON object per line in each direction, a request answered by exactly one
// response with the same id. Notifications (no id) and batches are not
// supported and are answered with an error, so a client never waits for an
// answer that will not come. This file only encodes and decodes; it does no
// I/O.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "control/control_error.hpp"

namespace hostcrypt::control {

// The largest request line the daemon reads: control calls are small; a
// longer line is refused and the connection closed.
inline constexpr std::size_t max_request_bytes = 1 << 20;

// The JSON-RPC codes of errors in the request itself. Errors of a method
// use the hostcrypt exit codes (positive numbers, exit_codes.hpp).
enum RpcCode : int {
    rpc_parse_error = -32700,
    rpc_invalid_request = -32600,
    rpc_method_not_found = -32601,
    rpc_invalid_params = -32602,
    rpc_internal_error = -32603,
};

struct RpcRequest {
    nlohmann::json id;  // a string or an integer
    std::string method;
    nlohmann::json params;  // an object, or null when absent
};

// A request line that cannot be served, with the id to answer it with (null
// if the id could not be read).
struct RpcRequestError {
    nlohmann::json id;
    int code;
    std::string message;
};

std::variant<RpcRequest, RpcRequestError> parse_request(std::string_view line);

// Response lines, newline included.
std::string result_response(const nlohmann::json& id, const nlohmann::json& result);
std::string error_response(const nlohmann::json& id, int code, const std::string& message,
                           const std::string& kind);

std::string request_line(const nlohmann::json& id, std::string_view method,
                         const nlohmann::json& params);

// The client's side: the result of a response line, or a ControlError with
// the class the daemon gave. Throws ControlError(exit_unavailable) for a
// line that is not a response to `id`.
nlohmann::json parse_response(std::string_view line, const nlohmann::json& id);

}  // namespace hostcrypt::control
