#pragma once

// Shared by the LocalVault tests: a vault in a fresh temporary directory
// with a clock the test moves, the key options and DEKs they use, and
// helpers for key references and error messages.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "common/utc_time.hpp"
#include "crypto/random.hpp"
#include "keys/key_ref.hpp"
#include "keys/keys_error.hpp"
#include "keys/local_vault.hpp"

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

namespace hostcrypt::keys::test {

namespace fs = std::filesystem;

inline constexpr auto day = std::chrono::hours(24);

// A directory of its own for each test, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        std::random_device random;
        path_ = fs::temp_directory_path() /
                fmt::format("hostcrypt-vault-test-{}-{:08x}", ::getpid(), random());
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

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
