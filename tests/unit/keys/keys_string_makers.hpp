#pragma once

// How Catch prints the keys layer's enums in a failed check. Every test that
// compares them includes this, so each test program has one definition of
// these specializations (a translation unit without them would instantiate
// Catch's generic one: two definitions of one template in one program).

#include <string>

#include <catch2/catch.hpp>

#include "keys/key_health.hpp"
#include "keys/keys_error.hpp"

namespace Catch {
template <>
struct StringMaker<hostcrypt::keys::KeyState> {
    static std::string convert(hostcrypt::keys::KeyState state) {
        return hostcrypt::keys::to_string(state);
    }
};
template <>
struct StringMaker<hostcrypt::keys::KeysErrc> {
    static std::string convert(hostcrypt::keys::KeysErrc code) {
        using hostcrypt::keys::KeysErrc;
        switch (code) {
            case KeysErrc::not_found:
                return "not_found";
            case KeysErrc::already_exists:
                return "already_exists";
            case KeysErrc::key_unusable:
                return "key_unusable";
            case KeysErrc::refused:
                return "refused";
            case KeysErrc::invalid_argument:
                return "invalid_argument";
            case KeysErrc::unwrap_failed:
                return "unwrap_failed";
            case KeysErrc::storage:
                return "storage";
        }
        return "unknown";
    }
};
}  // namespace Catch
