#include "control/control_error.hpp"

#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "control/exit_codes.hpp"
#include "crypto/crypto_error.hpp"
#include "disk/disk_error.hpp"
#include "keys/keys_error.hpp"
#include "keys/keys_string_makers.hpp"

using namespace hostcrypt::control;
using Catch::Matchers::Equals;
using hostcrypt::disk::DiskErrc;
using hostcrypt::disk::DiskError;
using hostcrypt::keys::KeysErrc;
using hostcrypt::keys::KeysError;

namespace {

// classify() through a std::exception reference, as the daemon calls it.
void check_class(const std::exception& error, int code, const std::string& kind) {
    INFO(error.what());
    const ErrorClass found = classify(error);
    CHECK(found.code == code);
    CHECK(found.kind == kind);
}

}  // namespace

TEST_CASE("the exit codes keep their documented values", "[control-error]") {
    CHECK(exit_ok == 0);
    CHECK(exit_failed == 1);
    CHECK(exit_usage == 2);
    CHECK(exit_not_found == 3);
    CHECK(exit_exists == 4);
    CHECK(exit_key_unusable == 5);
    CHECK(exit_refused == 6);
    CHECK(exit_state_damaged == 7);
    CHECK(exit_incomplete == 8);
    CHECK(exit_unauthorized == 9);
    CHECK(exit_unavailable == 10);
}

TEST_CASE("key errors are classified by their code", "[control-error]") {
    const std::vector<std::pair<KeysErrc, ErrorClass>> table{
        {KeysErrc::not_found, {exit_not_found, "not-found"}},
        {KeysErrc::already_exists, {exit_exists, "already-exists"}},
        {KeysErrc::key_unusable, {exit_key_unusable, "key-unusable"}},
        {KeysErrc::refused, {exit_refused, "refused"}},
        {KeysErrc::invalid_argument, {exit_usage, "invalid-argument"}},
        {KeysErrc::unwrap_failed, {exit_state_damaged, "unwrap-failed"}},
        {KeysErrc::storage, {exit_state_damaged, "state-damaged"}},
    };
    for (const auto& [code, expected] : table) {
        check_class(KeysError(code, "key trouble"), expected.code, expected.kind);
    }
    check_class(KeysError(KeysErrc::key_unusable, "disabled", hostcrypt::keys::KeyState::disabled),
                exit_key_unusable, "key-unusable");
}

TEST_CASE("disk errors are classified by their code", "[control-error]") {
    const std::vector<std::pair<DiskErrc, ErrorClass>> table{
        {DiskErrc::not_found, {exit_not_found, "not-found"}},
        {DiskErrc::already_exists, {exit_exists, "already-exists"}},
        {DiskErrc::key_unavailable, {exit_key_unusable, "key-unusable"}},
        {DiskErrc::invalid_argument, {exit_usage, "invalid-argument"}},
        {DiskErrc::io, {exit_failed, "io"}},
        {DiskErrc::not_hostcrypt, {exit_state_damaged, "not-hostcrypt"}},
        {DiskErrc::truncated, {exit_state_damaged, "truncated"}},
        {DiskErrc::bad_checksum, {exit_state_damaged, "bad-checksum"}},
        {DiskErrc::unsupported_version, {exit_state_damaged, "unsupported-version"}},
        {DiskErrc::corrupt, {exit_state_damaged, "corrupt"}},
        {DiskErrc::size_mismatch, {exit_state_damaged, "size-mismatch"}},
        {DiskErrc::unwrap_failed, {exit_state_damaged, "unwrap-failed"}},
    };
    for (const auto& [code, expected] : table) {
        check_class(DiskError(code, "disk trouble"), expected.code, expected.kind);
    }
}

TEST_CASE("a ControlError keeps the class it carries", "[control-error]") {
    const ControlError error(exit_unauthorized, "unauthorized", "reader may not create disks");
    CHECK(error.error_class().code == exit_unauthorized);
    CHECK(error.error_class().kind == "unauthorized");
    CHECK_THAT(error.what(), Equals("reader may not create disks"));
    check_class(error, exit_unauthorized, "unauthorized");
    check_class(ControlError(42, "anything", "m"), 42, "anything");
}

TEST_CASE("invalid_params is a usage error with its message", "[control-error]") {
    const ControlError error = invalid_params("parameter 'size' is required");
    CHECK(error.error_class().code == exit_usage);
    CHECK(error.error_class().kind == "invalid-argument");
    CHECK_THAT(error.what(), Equals("parameter 'size' is required"));
    check_class(error, exit_usage, "invalid-argument");
}

TEST_CASE("standard argument errors are usage errors", "[control-error]") {
    check_class(std::invalid_argument("stoul"), exit_usage, "invalid-argument");
    check_class(std::out_of_range("stoul"), exit_usage, "invalid-argument");
}

TEST_CASE("crypto errors are failures of kind crypto", "[control-error]") {
    check_class(hostcrypt::crypto::CryptoError(hostcrypt::crypto::CryptoErrc::library, "openssl"),
                exit_failed, "crypto");
}

TEST_CASE("any other exception is a plain failure", "[control-error]") {
    check_class(std::runtime_error("boom"), exit_failed, "failed");
    check_class(hostcrypt::Error("cannot lock"), exit_failed, "failed");
    check_class(std::logic_error("bug"), exit_failed, "failed");
    check_class(std::bad_alloc(), exit_failed, "failed");
}
