// StateDirectory: where host caches may be, as rotation must know it.

#include "control/state_directory.hpp"

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

using namespace hostcrypt;
using hostcrypt::test::TempDir;

TEST_CASE("a state directory remembers where daemons keep host caches",
          "[control][state_directory]") {
    TempDir temp;
    const auto root = temp.path() / "state";
    {
        control::StateDirectory state(root, "test");
        CHECK(state.cache_directories() == std::vector{root / "cache"});
        state.record_cache_directory(root / "cache");  // the default: nothing to remember
        CHECK_FALSE(std::filesystem::exists(root / "cache-directories"));
        state.record_cache_directory("/nvme/caches");
        state.record_cache_directory("/nvme/caches");  // once only
        state.record_cache_directory("/ssd/c");
    }
    // Another owner of the state, later (offline rotation), reads them back.
    control::StateDirectory state(root, "test");
    CHECK(state.cache_directories() ==
          std::vector<std::filesystem::path>{root / "cache", "/nvme/caches", "/ssd/c"});
}
