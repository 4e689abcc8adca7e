#include "control/json_rpc.hpp"

#include <fmt/format.h>

#include "control/exit_codes.hpp"

namespace hostcrypt::control {

using nlohmann::json;

namespace {

// Replaces invalid UTF-8 rather than throwing: names a caller sent are echoed
// in messages, and the answer must still be written.
std::string dump_line(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace) + '\n';
}

ControlError unavailable(const std::string& message) {
    return ControlError(exit_unavailable, "bad-response",
                        fmt::format("the daemon's answer cannot be read: {}", message));
}

}  // namespace

std::variant<RpcRequest, RpcRequestError> parse_request(std::string_view line) {
    const json message = json::parse(line, nullptr, false);
    if (message.is_discarded()) {
        return RpcRequestError{nullptr, rpc_parse_error, "not valid JSON"};
    }
    if (!message.is_object()) {
        return RpcRequestError{
            nullptr, rpc_invalid_request,
            message.is_array() ? "batches are not supported" : "a request must be a JSON object"};
    }
    const auto id = message.find("id");
    if (id == message.end()) {
        return RpcRequestError{nullptr, rpc_invalid_request,
                               "notifications (requests without an id) are not supported"};
    }
    if (!id->is_string() && !id->is_number_integer()) {
        return RpcRequestError{nullptr, rpc_invalid_request, "id must be a string or an integer"};
    }
    const auto version = message.find("jsonrpc");
    if (version == message.end() || *version != "2.0") {
        return RpcRequestError{*id, rpc_invalid_request, "jsonrpc must be \"2.0\""};
    }
    const auto method = message.find("method");
    if (method == message.end() || !method->is_string()) {
        return RpcRequestError{*id, rpc_invalid_request, "method must be a string"};
    }
    json params = message.value("params", json());
    if (!params.is_null() && !params.is_object()) {
        return RpcRequestError{*id, rpc_invalid_params,
                               "params must be an object (by-name parameters)"};
    }
    return RpcRequest{*id, method->get<std::string>(), std::move(params)};
}

std::string result_response(const json& id, const json& result) {
    return dump_line({{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
}

std::string error_response(const json& id, int code, const std::string& message,
                           const std::string& kind) {
    return dump_line(
        {{"jsonrpc", "2.0"},
         {"id", id},
         {"error", {{"code", code}, {"message", message}, {"data", {{"kind", kind}}}}}});
}

std::string request_line(const json& id, std::string_view method, const json& params) {
    return dump_line({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
}

namespace {

json parse_response_unchecked(std::string_view line, const json& id) {
    const json message = json::parse(line, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
        throw unavailable("not a JSON object");
    }
    // An error about a request the daemon could not read carries a null id.
    const json answered = message.value("id", json());
    const bool has_error = message.contains("error");
    if (message.value("jsonrpc", "") != "2.0" ||
        (answered != id && !(has_error && answered.is_null()))) {
        throw unavailable("not the response to this request");
    }
    if (const auto result = message.find("result"); result != message.end() && answered == id) {
        return *result;
    }
    const auto error = message.find("error");
    if (error == message.end() || !error->is_object() || !error->contains("code") ||
        !error->at("code").is_number_integer()) {
        throw unavailable("neither a result nor an error");
    }
    const std::int64_t code = error->at("code").get<std::int64_t>();
    const std::string text = error->value("message", "no message");
    std::string kind = "failed";
    if (const auto data = error->find("data"); data != error->end() && data->is_object()) {
        kind = data->value("kind", kind);
    }
    // Protocol-level codes are the client's own mistake or the daemon's:
    // as exit codes they become "usage" and "failed".
    const int exit_code = code > 0 && code < 64        ? static_cast<int>(code)
                          : code == rpc_internal_error ? static_cast<int>(exit_failed)
                                                       : static_cast<int>(exit_usage);
    throw ControlError(exit_code, kind, text);
}

}  // namespace

json parse_response(std::string_view line, const json& id) {
    try {
        return parse_response_unchecked(line, id);
    } catch (const json::exception& error) {
        throw unavailable(error.what());
    }
}

}  // namespace hostcrypt::control
