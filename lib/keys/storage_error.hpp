#pragma once

// lib/common reports file-system trouble as hostcrypt::Error; callers of
// lib/keys branch on KeysError. This is the one place that translates.

#include "common/error.hpp"
#include "crypto/crypto_error.hpp"
#include "keys/keys_error.hpp"

namespace hostcrypt::keys {

// Runs `action`; a hostcrypt::Error that is neither a KeysError nor a
// CryptoError leaves as KeysError(storage) with the same message.
template <typename Action>
decltype(auto) as_storage_error(Action&& action) {
    try {
        return action();
    } catch (const KeysError&) {
        throw;
    } catch (const crypto::CryptoError&) {
        throw;
    } catch (const Error& error) {
        throw KeysError(KeysErrc::storage, error.what());
    }
}

}  // namespace hostcrypt::keys
