// open_listener on unix sockets: a stale socket file is replaced, a live one
// is refused (after waiting out a killed daemon's lingering listener).

#include "daemon/listener.hpp"

#include <chrono>
#include <sys/socket.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::daemon;
using Catch::Matchers::Contains;
using hostcrypt::test::TempDir;
using hostcrypt::test::thrown;

TEST_CASE("a stale socket file is replaced", "[listener]") {
    TempDir dir;
    const ListenAddress address = ListenAddress::unix_socket(dir / "nbd.sock");
    { const Listener first = open_listener(address); }  // closed, its file left behind
    struct stat st {};
    REQUIRE(::stat(address.path.c_str(), &st) == 0);
    const Listener second = open_listener(address);
    CHECK(second.socket);
    REQUIRE(::stat(address.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
}

TEST_CASE("a socket another server listens on is refused after a wait", "[listener]") {
    TempDir dir;
    const ListenAddress address = ListenAddress::unix_socket(dir / "nbd.sock");
    const Listener running = open_listener(address);
    const auto start = std::chrono::steady_clock::now();
    const hostcrypt::Error error = thrown<hostcrypt::Error>([&] { open_listener(address); });
    CHECK_THAT(error.what(), Contains("another server is listening there"));
    // Long enough for a killed daemon's rings to be torn down, not forever.
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= std::chrono::seconds(4));
    CHECK(waited < std::chrono::seconds(30));
}
