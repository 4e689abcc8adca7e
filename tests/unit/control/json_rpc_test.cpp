#include "control/json_rpc.hpp"

#include <algorithm>
#include <string>
#include <variant>

#include <catch2/catch.hpp>

#include "control/exit_codes.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::control;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using hostcrypt::test::thrown;
using nlohmann::json;

namespace {

RpcRequest request_of(const std::string& line) {
    INFO(line);
    auto parsed = parse_request(line);
    REQUIRE(std::holds_alternative<RpcRequest>(parsed));
    return std::get<RpcRequest>(parsed);
}

RpcRequestError error_of(const std::string& line) {
    INFO(line);
    auto parsed = parse_request(line);
    REQUIRE(std::holds_alternative<RpcRequestError>(parsed));
    return std::get<RpcRequestError>(parsed);
}

void check_refused(const std::string& line, const json& id, int code, const std::string& message) {
    INFO(line);
    const RpcRequestError error = error_of(line);
    CHECK(error.id == id);
    CHECK(error.code == code);
    CHECK_THAT(error.message, Equals(message));
}

// What parse_response throws for `line` as the answer to `id`.
ControlError response_error(const std::string& line, const json& id = 7) {
    INFO(line);
    return thrown<ControlError>([&] { parse_response(line, id); });
}

// A response line is exactly one line: one '\n', at its end.
void check_one_line(const std::string& line) {
    INFO(line);
    REQUIRE_FALSE(line.empty());
    CHECK(line.back() == '\n');
    CHECK(std::count(line.begin(), line.end(), '\n') == 1);
}

}  // namespace

TEST_CASE("the JSON-RPC codes are the standard ones", "[json-rpc]") {
    CHECK(rpc_parse_error == -32700);
    CHECK(rpc_invalid_request == -32600);
    CHECK(rpc_method_not_found == -32601);
    CHECK(rpc_invalid_params == -32602);
    CHECK(rpc_internal_error == -32603);
    CHECK(max_request_bytes == 1048576);
}

TEST_CASE("a request with an integer id and no params is read", "[json-rpc]") {
    const RpcRequest request = request_of(R"({"jsonrpc":"2.0","id":7,"method":"status"})");
    CHECK(request.id == 7);
    CHECK(request.id.is_number_integer());
    CHECK(request.method == "status");
    CHECK(request.params.is_null());
}

TEST_CASE("a request with a string id is read and its id kept as a string", "[json-rpc]") {
    const RpcRequest request = request_of(R"({"method":"disk.list","id":"call-1","jsonrpc":"2.0"})"
                                          "\n");
    CHECK(request.id == "call-1");
    CHECK(request.id.is_string());
    CHECK(request.method == "disk.list");
    CHECK(request.params.is_null());
}

TEST_CASE("negative and zero integer ids are accepted", "[json-rpc]") {
    CHECK(request_of(R"({"jsonrpc":"2.0","id":0,"method":"m"})").id == 0);
    CHECK(request_of(R"({"jsonrpc":"2.0","id":-3,"method":"m"})").id == -3);
}

TEST_CASE("params null and params an object are both accepted", "[json-rpc]") {
    CHECK(request_of(R"({"jsonrpc":"2.0","id":1,"method":"m","params":null})").params.is_null());
    const RpcRequest request = request_of(
        R"({"jsonrpc":"2.0","id":1,"method":"disk.create","params":{"name":"d","size":4096}})");
    CHECK(request.params == json{{"name", "d"}, {"size", 4096}});
    CHECK(request_of(R"({"jsonrpc":"2.0","id":1,"method":"m","params":{}})").params ==
          json::object());
}

TEST_CASE("a line that is not JSON is a parse error without an id", "[json-rpc][errors]") {
    check_refused("status", nullptr, rpc_parse_error, "not valid JSON");
    check_refused("", nullptr, rpc_parse_error, "not valid JSON");
    check_refused(R"({"jsonrpc":"2.0","id":1,"method":"m")", nullptr, rpc_parse_error,
                  "not valid JSON");
    check_refused(R"({"jsonrpc":"2.0","id":1,"method":"m"} {})", nullptr, rpc_parse_error,
                  "not valid JSON");
}

TEST_CASE("a request that is not an object is refused", "[json-rpc][errors]") {
    check_refused("42", nullptr, rpc_invalid_request, "a request must be a JSON object");
    check_refused(R"("status")", nullptr, rpc_invalid_request, "a request must be a JSON object");
    check_refused("null", nullptr, rpc_invalid_request, "a request must be a JSON object");
}

TEST_CASE("a batch is refused as such", "[json-rpc][errors]") {
    check_refused(R"([{"jsonrpc":"2.0","id":1,"method":"status"}])", nullptr, rpc_invalid_request,
                  "batches are not supported");
    check_refused("[]", nullptr, rpc_invalid_request, "batches are not supported");
}

TEST_CASE("a notification (no id) is refused rather than left unanswered", "[json-rpc][errors]") {
    check_refused(R"({"jsonrpc":"2.0","method":"status"})", nullptr, rpc_invalid_request,
                  "notifications (requests without an id) are not supported");
}

TEST_CASE("an id that is neither a string nor an integer is refused", "[json-rpc][errors]") {
    for (const char* id : {"1.5", "null", "true", "[1]", R"({"a":1})"}) {
        check_refused(std::string(R"({"jsonrpc":"2.0","method":"status","id":)") + id + "}",
                      nullptr, rpc_invalid_request, "id must be a string or an integer");
    }
}

TEST_CASE("a wrong or missing jsonrpc version is refused with the id", "[json-rpc][errors]") {
    const std::string message = "jsonrpc must be \"2.0\"";
    check_refused(R"({"id":5,"method":"status"})", 5, rpc_invalid_request, message);
    check_refused(R"({"jsonrpc":"1.0","id":5,"method":"status"})", 5, rpc_invalid_request, message);
    check_refused(R"({"jsonrpc":2.0,"id":"x","method":"status"})", "x", rpc_invalid_request,
                  message);
    check_refused(R"({"jsonrpc":null,"id":"x","method":"status"})", "x", rpc_invalid_request,
                  message);
}

TEST_CASE("a method that is not a string is refused with the id", "[json-rpc][errors]") {
    const std::string message = "method must be a string";
    check_refused(R"({"jsonrpc":"2.0","id":5})", 5, rpc_invalid_request, message);
    check_refused(R"({"jsonrpc":"2.0","id":"a","method":5})", "a", rpc_invalid_request, message);
    check_refused(R"({"jsonrpc":"2.0","id":"a","method":null})", "a", rpc_invalid_request, message);
    check_refused(R"({"jsonrpc":"2.0","id":"a","method":["status"]})", "a", rpc_invalid_request,
                  message);
}

TEST_CASE("params by position or of another type are refused with the id", "[json-rpc][errors]") {
    const std::string message = "params must be an object (by-name parameters)";
    check_refused(R"({"jsonrpc":"2.0","id":9,"method":"disk.show","params":["d1"]})", 9,
                  rpc_invalid_params, message);
    check_refused(R"({"jsonrpc":"2.0","id":9,"method":"disk.show","params":"d1"})", 9,
                  rpc_invalid_params, message);
    check_refused(R"({"jsonrpc":"2.0","id":9,"method":"disk.show","params":3})", 9,
                  rpc_invalid_params, message);
}

TEST_CASE("a result response is one exact line", "[json-rpc][responses]") {
    const std::string line = result_response(7, json{{"disks", json::array()}});
    CHECK_THAT(line, Equals("{\"id\":7,\"jsonrpc\":\"2.0\",\"result\":{\"disks\":[]}}\n"));
    check_one_line(line);
    CHECK(result_response("a", nullptr) == "{\"id\":\"a\",\"jsonrpc\":\"2.0\",\"result\":null}\n");
}

TEST_CASE("an error response carries code and message and kind", "[json-rpc][responses]") {
    const std::string line = error_response("x", exit_not_found, "no disk d1", "not-found");
    CHECK_THAT(line, Equals("{\"error\":{\"code\":3,\"data\":{\"kind\":\"not-found\"},"
                            "\"message\":\"no disk d1\"},\"id\":\"x\",\"jsonrpc\":\"2.0\"}\n"));
    check_one_line(line);
    // The id of a request whose id could not be read is null.
    CHECK_THAT(
        error_response(nullptr, rpc_parse_error, "not valid JSON", "invalid-request"),
        StartsWith("{\"error\":{\"code\":-32700,") && Contains("\"id\":null,\"jsonrpc\":\"2.0\"}"));
}

TEST_CASE("strings with newlines do not break a response line", "[json-rpc][responses]") {
    const std::string error = error_response(1, exit_failed, "first\nsecond\r\n", "failed");
    check_one_line(error);
    CHECK_THAT(error, Contains(R"("message":"first\nsecond\r\n")"));
    const std::string result = result_response(1, json{{"text", "a\nb"}});
    check_one_line(result);
    CHECK_THAT(result, Contains(R"("text":"a\nb")"));
    const std::string request = request_line(1, "disk.show", json{{"name", "x\ny"}});
    check_one_line(request);
}

TEST_CASE("invalid UTF-8 in a message is replaced and not thrown", "[json-rpc][responses]") {
    const std::string bad = "no disk d\xff\xfe";
    std::string line;
    REQUIRE_NOTHROW(line = error_response(1, exit_not_found, bad, "not-found"));
    check_one_line(line);
    // U+FFFD REPLACEMENT CHARACTER, as UTF-8, once per bad byte.
    CHECK_THAT(line, Contains("\"message\":\"no disk d\xef\xbf\xbd\xef\xbf\xbd\""));
    // The line is valid JSON again.
    const json parsed = json::parse(line);
    CHECK(parsed["error"]["message"] == "no disk d\xef\xbf\xbd\xef\xbf\xbd");

    REQUIRE_NOTHROW(line = result_response(1, json{{"name", "\xc3"}}));
    CHECK(json::parse(line)["result"]["name"] == "\xef\xbf\xbd");
    REQUIRE_NOTHROW(line = request_line(1, "disk.show", json{{"name", "\x80"}}));
    CHECK(json::parse(line)["params"]["name"] == "\xef\xbf\xbd");
}

TEST_CASE("a request line is what parse_request reads back", "[json-rpc]") {
    const std::string line = request_line(3, "disk.create", json{{"name", "d1"}, {"size", 1}});
    CHECK_THAT(line, Equals("{\"id\":3,\"jsonrpc\":\"2.0\",\"method\":\"disk.create\","
                            "\"params\":{\"name\":\"d1\",\"size\":1}}\n"));
    const RpcRequest request = request_of(line);
    CHECK(request.id == 3);
    CHECK(request.method == "disk.create");
    CHECK(request.params == json{{"name", "d1"}, {"size", 1}});

    const RpcRequest without = request_of(request_line("s", "status", nullptr));
    CHECK(without.id == "s");
    CHECK(without.params.is_null());
}

TEST_CASE("parse_response returns the result", "[json-rpc][client]") {
    CHECK(parse_response(result_response(7, json{{"ok", true}}), 7) == json{{"ok", true}});
    CHECK(parse_response(result_response("id", json::array({1, 2})), "id") == json{1, 2});
    // A null result is a result.
    CHECK(parse_response(R"({"jsonrpc":"2.0","id":7,"result":null})", 7).is_null());
}

TEST_CASE("an error response becomes a ControlError with the daemon's class",
          "[json-rpc][client]") {
    const ControlError error =
        response_error(error_response(7, exit_not_found, "no disk d1", "not-found"));
    CHECK(error.error_class().code == exit_not_found);
    CHECK(error.error_class().kind == "not-found");
    CHECK_THAT(error.what(), Equals("no disk d1"));

    for (const int code : {1, 2, 5, 9, 10, 63}) {
        INFO(code);
        const ControlError kept = response_error(error_response(7, code, "m", "some-kind"));
        CHECK(kept.error_class().code == code);
        CHECK(kept.error_class().kind == "some-kind");
    }
}

TEST_CASE("protocol error codes become usage or failed exit codes", "[json-rpc][client]") {
    const ControlError internal =
        response_error(error_response(7, rpc_internal_error, "boom", "failed"));
    CHECK(internal.error_class().code == exit_failed);
    CHECK_THAT(internal.what(), Equals("boom"));
    for (const int code : {static_cast<int>(rpc_parse_error), static_cast<int>(rpc_invalid_request),
                           static_cast<int>(rpc_method_not_found),
                           static_cast<int>(rpc_invalid_params), -1, -32000}) {
        INFO(code);
        const ControlError usage = response_error(error_response(7, code, "bad", "invalid"));
        CHECK(usage.error_class().code == exit_usage);
        CHECK(usage.error_class().kind == "invalid");
    }
}

TEST_CASE("an error without kind or message gets defaults", "[json-rpc][client]") {
    const ControlError bare = response_error(R"({"jsonrpc":"2.0","id":7,"error":{"code":4}})");
    CHECK(bare.error_class().code == exit_exists);
    CHECK(bare.error_class().kind == "failed");
    CHECK_THAT(bare.what(), Equals("no message"));
    const ControlError odd_data = response_error(
        R"({"jsonrpc":"2.0","id":7,"error":{"code":3,"message":"m","data":"not-found"}})");
    CHECK(odd_data.error_class().kind == "failed");
    const ControlError no_kind =
        response_error(R"({"jsonrpc":"2.0","id":7,"error":{"code":3,"message":"m","data":{}}})");
    CHECK(no_kind.error_class().kind == "failed");
}

TEST_CASE("an answer to another request is unavailable", "[json-rpc][client][errors]") {
    const std::string prefix = "the daemon's answer cannot be read: ";
    for (const std::string& line :
         {result_response(8, 1), result_response("7", 1), result_response(nullptr, 1),
          std::string(R"({"id":7,"result":1})"),
          std::string(R"({"jsonrpc":"1.0","id":7,"result":1})"),
          error_response(8, exit_not_found, "m", "not-found")}) {
        INFO(line);
        const ControlError error = response_error(line, 7);
        CHECK(error.error_class().code == exit_unavailable);
        CHECK(error.error_class().kind == "bad-response");
        CHECK_THAT(error.what(), Equals(prefix + "not the response to this request"));
    }
}

TEST_CASE("an answer that is not a JSON object is unavailable", "[json-rpc][client][errors]") {
    for (const char* line : {"", "garbage", "[1]", "42", "{\"id\":7"}) {
        INFO(line);
        const ControlError error = response_error(line);
        CHECK(error.error_class().code == exit_unavailable);
        CHECK(error.error_class().kind == "bad-response");
        CHECK_THAT(error.what(), Equals("the daemon's answer cannot be read: not a JSON object"));
    }
}

TEST_CASE("an answer with neither result nor usable error is unavailable",
          "[json-rpc][client][errors]") {
    for (const char* line : {
             R"({"jsonrpc":"2.0","id":7})",
             R"({"jsonrpc":"2.0","id":7,"error":"bad"})",
             R"({"jsonrpc":"2.0","id":7,"error":{"message":"m"}})",
             R"({"jsonrpc":"2.0","id":7,"error":{"code":"3","message":"m"}})",
             R"({"jsonrpc":"2.0","id":7,"error":{"code":3.5,"message":"m"}})",
         }) {
        INFO(line);
        const ControlError error = response_error(line);
        CHECK(error.error_class().code == exit_unavailable);
        CHECK_THAT(error.what(),
                   Equals("the daemon's answer cannot be read: neither a result nor an error"));
    }
}

TEST_CASE("fields of the wrong type in an answer are unavailable and not a JSON exception",
          "[json-rpc][client][errors]") {
    for (const char* line : {
             R"({"jsonrpc":2,"id":7,"result":1})",
             R"({"jsonrpc":"2.0","id":7,"error":{"code":3,"message":5}})",
             R"({"jsonrpc":"2.0","id":7,"error":{"code":3,"message":"m","data":{"kind":1}}})",
         }) {
        INFO(line);
        const ControlError error = response_error(line);
        CHECK(error.error_class().code == exit_unavailable);
        CHECK(error.error_class().kind == "bad-response");
        CHECK_THAT(error.what(), StartsWith("the daemon's answer cannot be read: "));
    }
}
