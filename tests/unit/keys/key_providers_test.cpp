#include "keys/key_providers.hpp"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/utc_time.hpp"
#include "crypto/random.hpp"
#include "keys/key_ref.hpp"
#include "keys/keys_error.hpp"
#include "keys/keys_string_makers.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using hostcrypt::test::thrown;
using namespace hostcrypt;
using namespace hostcrypt::keys;
using Catch::Matchers::Contains;
using hostcrypt::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::vector<std::byte> random_dek() {
    std::vector<std::byte> dek(64);
    crypto::fill_random(dek);
    return dek;
}

struct StateDir {
    TempDir temp;
    TimePoint now = parse_utc("2026-11-23T09:00:00Z");
    fs::path state = temp / "state";

    std::unique_ptr<KeyProviders> providers() {
        return std::make_unique<KeyProviders>(state, "test-actor", [this] { return now; });
    }
};

}  // namespace

TEST_CASE("the platform provider id resolves to the platform key store", "[providers]") {
    StateDir dir;
    const auto providers = dir.providers();
    KeyWrapper& provider = providers->provider("platform");
    CHECK(&provider == &providers->platform());
    CHECK(provider.provider_id() == platform_provider);
    CHECK(fs::exists(dir.state / "platform" / "keks.json"));
}

TEST_CASE("a vault provider id resolves to that vault once it exists", "[providers]") {
    StateDir dir;
    const auto providers = dir.providers();
    KeyVault& vault = providers->open_or_create_vault("local");
    KeyWrapper& provider = providers->provider("vault:local");
    CHECK(&provider == &vault);
    CHECK(provider.provider_id() == "vault:local");
    CHECK(&providers->vault("local") == &vault);
}

TEST_CASE("a vault created through one KeyProviders is found by a fresh one", "[providers]") {
    StateDir dir;
    const auto dek = random_dek();
    WrappedKey vault_wrapped;
    WrappedKey platform_wrapped;
    {
        const auto providers = dir.providers();
        CreateKeyOptions options;
        options.type = KeyType::aes256;
        providers->open_or_create_vault("local").create_key("app-key", options);
        vault_wrapped = providers->provider("vault:local").wrap("app-key", std::nullopt, dek);
        platform_wrapped = providers->platform().wrap(platform_key_name, std::nullopt, dek);
    }
    const auto providers = dir.providers();
    CHECK(providers->provider("vault:local")
              .unwrap(vault_wrapped.kek, vault_wrapped.blob)
              .equals(dek));
    CHECK(providers->provider("platform")
              .unwrap(platform_wrapped.kek, platform_wrapped.blob)
              .equals(dek));
}

TEST_CASE("an unknown vault is not found and not created", "[providers][errors]") {
    StateDir dir;
    const auto providers = dir.providers();
    providers->open_or_create_vault("local");
    for (const KeysError& error : {thrown<KeysError>([&] { providers->provider("vault:remote"); }),
                                   thrown<KeysError>([&] { providers->vault("remote"); })}) {
        CHECK(error.code() == KeysErrc::not_found);
        CHECK_THAT(error.what(), Contains("no vault named remote"));
    }
    CHECK_FALSE(fs::exists(dir.state / "vaults" / "remote"));
    CHECK(providers->vault_names() == std::vector<std::string>{"local"});
}

TEST_CASE("an unknown provider id is not found", "[providers][errors]") {
    StateDir dir;
    const auto providers = dir.providers();
    const std::string id =
        GENERATE(as<std::string>{}, "kms:local", "", "Platform", "platform ", "vault", "local");
    const KeysError error = thrown<KeysError>([&] { providers->provider(id); });
    CHECK(error.code() == KeysErrc::not_found);
    CHECK_THAT(error.what(), Contains("unknown key provider '" + id + "'"));
}

TEST_CASE("a vault provider id that is not a valid name never becomes a path",
          "[providers][errors]") {
    // Provider ids come from disk headers, which anyone with the backing
    // file can write.
    StateDir dir;
    const auto providers = dir.providers();
    const std::string name = GENERATE(as<std::string>{}, "../escape", "..", "", "a/b", ".hidden");
    const KeysError error = thrown<KeysError>([&] { providers->provider("vault:" + name); });
    CHECK(error.code() == KeysErrc::invalid_argument);
    CHECK_THAT(error.what(), Contains("invalid vault name"));
    CHECK(thrown<KeysError>([&] { providers->open_or_create_vault(name); }).code() ==
          KeysErrc::invalid_argument);
    CHECK_FALSE(fs::exists(dir.temp / "escape"));
    CHECK_FALSE(fs::exists(dir.state / "escape"));
}

TEST_CASE("vault_names lists the vault directories sorted by name", "[providers]") {
    StateDir dir;
    auto providers = dir.providers();
    CHECK(providers->vault_names().empty());
    for (const char* name : {"zeta", "alpha", "mid"}) {
        providers->open_or_create_vault(name);
    }
    // A stray file in vaults/ is not a vault.
    std::ofstream(dir.state / "vaults" / "notes.txt") << "not a vault\n";
    const std::vector<std::string> expected{"alpha", "mid", "zeta"};
    CHECK(providers->vault_names() == expected);
    providers.reset();
    CHECK(dir.providers()->vault_names() == expected);
}
