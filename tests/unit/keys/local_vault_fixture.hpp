#pragma once

// Shared by the LocalVault tests: a vault in a fresh temporary directory
// with a clock the test moves, the key options and DEKs they use, and
// helpers for key references and error messages.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "common/utc_time.hpp"
#include "crypto/random.hpp"
#include "keys/key_ref.hpp"
#include "keys/keys_error.hpp"
#include "keys/keys_string_makers.hpp"
#include "keys/local_vault.hpp"
#include "support/temp_dir.hpp"

namespace hostcrypt::keys::test {

namespace fs = std::filesystem;

inline constexpr auto day = std::chrono::hours(24);

using hostcrypt::test::TempDir;

// Time that only moves when a test moves it.
struct TestClock {
    std::shared_ptr<TimePoint> time =
        std::make_shared<TimePoint>(parse_utc("2026-03-01T12:00:00Z"));

    ClockFunction function() const {
        return [shared = time] { return *shared; };
    }
    TimePoint now() const { return *time; }
    void advance(std::chrono::system_clock::duration by) const { *time += by; }
};

struct Fixture {
    TempDir temp;
    TestClock clock;
    fs::path directory = temp.path() / "vault";
    std::unique_ptr<LocalVault> vault = open();

    std::unique_ptr<LocalVault> open(const std::string& actor = "alice") const {
        return LocalVault::open(directory, "local", actor, clock.function());
    }
    void reopen() {
        vault.reset();
        vault = open();
    }
};

inline CreateKeyOptions options_for(KeyType type) {
    CreateKeyOptions options;
    options.type = type;
    return options;
}

inline const CreateKeyOptions aes = options_for(KeyType::aes256);
inline const CreateKeyOptions rsa = options_for(KeyType::rsa2048);

inline std::vector<std::byte> random_dek(std::size_t size = 64) {
    std::vector<std::byte> dek(size);
    crypto::fill_random(dek);
    return dek;
}

inline KeyRef ref(const std::string& name, std::uint32_t version) {
    return {"vault:local", name, version};
}

inline std::string message(const KeysError& error) {
    return error.what();
}

}  // namespace hostcrypt::keys::test
