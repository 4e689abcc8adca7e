#include "control/control_error.hpp"

#include <stdexcept>

#include "control/exit_codes.hpp"
#include "crypto/crypto_error.hpp"
#include "disk/disk_error.hpp"
#include "instance/instance_error.hpp"
#include "keys/keys_error.hpp"

namespace hostcrypt::control {

namespace {

ErrorClass classify_keys(keys::KeysErrc code) {
    using keys::KeysErrc;
    switch (code) {
        case KeysErrc::not_found:
            return {exit_not_found, "not-found"};
        case KeysErrc::already_exists:
            return {exit_exists, "already-exists"};
        case KeysErrc::key_unusable:
            return {exit_key_unusable, "key-unusable"};
        case KeysErrc::refused:
            return {exit_refused, "refused"};
        case KeysErrc::invalid_argument:
            return {exit_usage, "invalid-argument"};
        case KeysErrc::unwrap_failed:
            return {exit_state_damaged, "unwrap-failed"};
        case KeysErrc::storage:
            return {exit_state_damaged, "state-damaged"};
    }
    return {exit_failed, "failed"};
}

ErrorClass classify_disk(disk::DiskErrc code) {
    using disk::DiskErrc;
    switch (code) {
        case DiskErrc::not_found:
            return {exit_not_found, "not-found"};
        case DiskErrc::already_exists:
            return {exit_exists, "already-exists"};
        case DiskErrc::key_unavailable:
            return {exit_key_unusable, "key-unusable"};
        case DiskErrc::invalid_argument:
            return {exit_usage, "invalid-argument"};
        case DiskErrc::io:
            return {exit_failed, "io"};
        case DiskErrc::cache_dirty:
            return {exit_refused, "cache-dirty"};
        default:  // every way a header or backing store can be wrong
            return {exit_state_damaged, disk::to_string(code)};
    }
}

ErrorClass classify_instance(instance::InstanceErrc code) {
    using instance::InstanceErrc;
    switch (code) {
        case InstanceErrc::not_found:
            return {exit_not_found, "not-found"};
        case InstanceErrc::already_exists:
            return {exit_exists, "already-exists"};
        case InstanceErrc::invalid_argument:
            return {exit_usage, "invalid-argument"};
        case InstanceErrc::conflict:
            return {exit_refused, "refused"};
        case InstanceErrc::corrupt:
            return {exit_state_damaged, "state-damaged"};
    }
    return {exit_failed, "failed"};
}

}  // namespace

ControlError invalid_params(const std::string& message) {
    return ControlError(exit_usage, "invalid-argument", message);
}

ErrorClass classify(const std::exception& error) {
    if (const auto* control_error = dynamic_cast<const ControlError*>(&error)) {
        return control_error->error_class();
    }
    if (const auto* keys_error = dynamic_cast<const keys::KeysError*>(&error)) {
        return classify_keys(keys_error->code());
    }
    if (const auto* disk_error = dynamic_cast<const disk::DiskError*>(&error)) {
        return classify_disk(disk_error->code());
    }
    if (const auto* instance_error = dynamic_cast<const instance::InstanceError*>(&error)) {
        return classify_instance(instance_error->code());
    }
    if (dynamic_cast<const crypto::CryptoError*>(&error) != nullptr) {
        return {exit_failed, "crypto"};
    }
    if (dynamic_cast<const std::invalid_argument*>(&error) != nullptr ||
        dynamic_cast<const std::out_of_range*>(&error) != nullptr) {
        return {exit_usage, "invalid-argument"};
    }
    return {exit_failed, "failed"};
}

}  // namespace hostcrypt::control
