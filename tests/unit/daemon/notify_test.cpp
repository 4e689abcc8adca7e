#include "daemon/notify.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/unique_fd.hpp"
#include "support/temp_dir.hpp"

using namespace hostcrypt::daemon;
using hostcrypt::UniqueFd;
using hostcrypt::test::TempDir;

namespace {

// Sets NOTIFY_SOCKET (or unsets it, for nullopt) for one test and puts back
// what was there, so no test sees another's socket.
class NotifySocketVariable {
  public:
    explicit NotifySocketVariable(const std::optional<std::string>& value) {
        if (const char* old = std::getenv("NOTIFY_SOCKET")) {
            old_ = old;
        }
        set(value);
    }
    NotifySocketVariable(const NotifySocketVariable&) = delete;
    NotifySocketVariable& operator=(const NotifySocketVariable&) = delete;
    ~NotifySocketVariable() { set(old_); }

  private:
    static void set(const std::optional<std::string>& value) {
        if (value) {
            ::setenv("NOTIFY_SOCKET", value->c_str(), 1);
        } else {
            ::unsetenv("NOTIFY_SOCKET");
        }
    }
    std::optional<std::string> old_;
};

// What systemd listens on: a datagram socket bound in a temporary directory.
class FakeServiceManager {
  public:
    FakeServiceManager() : path_((directory_ / "notify.sock").string()) {
        fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        REQUIRE(fd_.get() >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(path_.size() < sizeof(address.sun_path));
        path_.copy(address.sun_path, path_.size());
        REQUIRE(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) ==
                0);
    }

    const std::string& path() const { return path_; }

    // The next datagram, or nullopt if none is waiting. sd_notify has sent
    // its datagram before it returns, so there is nothing to wait for.
    std::optional<std::string> next() {
        char buffer[4096];
        const ssize_t length = ::recv(fd_.get(), buffer, sizeof(buffer), 0);
        if (length < 0) {
            REQUIRE(errno == EAGAIN);
            return std::nullopt;
        }
        return std::string(buffer, static_cast<std::size_t>(length));
    }

  private:
    TempDir directory_;
    std::string path_;
    UniqueFd fd_;
};

std::uint64_t monotonic_usec() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
           static_cast<std::uint64_t>(now.tv_nsec) / 1'000U;
}

}  // namespace

TEST_CASE("notify_ready sends READY=1 and the status", "[notify]") {
    FakeServiceManager manager;
    NotifySocketVariable variable(manager.path());

    CHECK_FALSE(notify_ready("serving 3 exports"));
    CHECK(manager.next() == "READY=1\nSTATUS=serving 3 exports");
    CHECK_FALSE(notify_ready(""));
    CHECK(manager.next() == "READY=1");
    CHECK(manager.next() == std::nullopt);
}

TEST_CASE("notify_status sends STATUS= alone", "[notify]") {
    FakeServiceManager manager;
    NotifySocketVariable variable(manager.path());

    CHECK_FALSE(notify_status("reloading the catalog"));
    CHECK(manager.next() == "STATUS=reloading the catalog");
}

TEST_CASE("a status cannot add assignments of its own", "[notify]") {
    FakeServiceManager manager;
    NotifySocketVariable variable(manager.path());

    CHECK_FALSE(notify_status("disk a\nSTOPPING=1"));
    CHECK(manager.next() == "STATUS=disk a STOPPING=1");
    CHECK_FALSE(notify_ready(std::string_view("a\0b", 3)));
    CHECK(manager.next() == "READY=1\nSTATUS=a b");
}

TEST_CASE("notify_stopping sends STOPPING=1", "[notify]") {
    FakeServiceManager manager;
    NotifySocketVariable variable(manager.path());

    CHECK_FALSE(notify_stopping());
    CHECK(manager.next() == "STOPPING=1");
}

TEST_CASE("notify_reloading sends RELOADING=1 and the monotonic time", "[notify]") {
    FakeServiceManager manager;
    NotifySocketVariable variable(manager.path());

    const std::uint64_t before = monotonic_usec();
    CHECK_FALSE(notify_reloading());
    const std::uint64_t after = monotonic_usec();

    const std::optional<std::string> message = manager.next();
    REQUIRE(message);
    const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
    REQUIRE(message->starts_with(prefix));
    const std::string usec = message->substr(prefix.size());
    REQUIRE(usec.find_first_not_of("0123456789") == std::string::npos);
    CHECK(std::stoull(usec) >= before);
    CHECK(std::stoull(usec) <= after);
}

TEST_CASE("without NOTIFY_SOCKET every call succeeds and sends nothing", "[notify]") {
    FakeServiceManager manager;
    NotifySocketVariable variable(std::nullopt);

    CHECK_FALSE(notify_ready("ready"));
    CHECK_FALSE(notify_reloading());
    CHECK_FALSE(notify_status("status"));
    CHECK_FALSE(notify_stopping());
    CHECK(manager.next() == std::nullopt);
}

TEST_CASE("a notification that cannot be sent returns why", "[notify][errors]") {
    TempDir directory;

    SECTION("no one listens on the socket") {
        NotifySocketVariable variable((directory / "absent.sock").string());
        CHECK(notify_ready("ready") == std::errc::no_such_file_or_directory);
        CHECK(notify_stopping() == std::errc::no_such_file_or_directory);
    }
    SECTION("the socket is not an absolute path") {
        NotifySocketVariable variable(std::string("relative.sock"));
        CHECK(notify_status("status") == std::errc::invalid_argument);
        CHECK(notify_reloading() == std::errc::invalid_argument);
    }
}
