#include "daemon/authorization.hpp"

#include <algorithm>
#include <cstdint>
#include <fcntl.h>
#include <pwd.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "common/unique_fd.hpp"
#include "daemon/config_error.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::daemon;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using hostcrypt::control::Role;
using hostcrypt::control::RoleSet;
using hostcrypt::test::thrown;

namespace {

const std::string principal_help = "; write user:NAME, group:NAME, uid:N or gid:N";

void check_principal(const std::string& text, Principal::Kind kind, std::uint32_t id) {
    INFO(text);
    const Principal principal = parse_principal(text);
    CHECK(principal.kind == kind);
    CHECK(principal.id == id);
    CHECK(principal.text == text);
}

void check_refused(const std::string& text, const std::string& why) {
    INFO(text);
    const ConfigError error = thrown<ConfigError>([&] { parse_principal(text); });
    CHECK(error.code() == ConfigErrc::invalid_value);
    CHECK_THAT(error.what(),
               Equals("\"" + text + "\" is not a principal: " + why + principal_help));
}

Principal user(std::uint32_t uid) {
    return {Principal::Kind::user, uid, "uid:" + std::to_string(uid)};
}

Principal group(std::uint32_t gid) {
    return {Principal::Kind::group, gid, "gid:" + std::to_string(gid)};
}

// A caller that is neither root nor the test's own user.
PeerCredentials stranger() {
    PeerCredentials caller;
    caller.pid = 777;
    caller.uid = 4242;
    caller.gid = 5000;
    caller.groups = {100, 200};
    return caller;
}

// The roles as text, so a failing check says which.
std::string roles_text(const RoleSet& roles) {
    std::string text;
    for (const Role role : {Role::reader, Role::disk_operator, Role::crypto_officer}) {
        if (roles.allows(role)) {
            text += std::string(text.empty() ? "" : " ") + hostcrypt::control::to_string(role);
        }
    }
    return text;
}

}  // namespace

TEST_CASE("uid and gid principals take numbers", "[authorization]") {
    check_principal("uid:0", Principal::Kind::user, 0);
    check_principal("uid:1000", Principal::Kind::user, 1000);
    check_principal("uid:4294967295", Principal::Kind::user, 4294967295U);
    check_principal("gid:0", Principal::Kind::group, 0);
    check_principal("gid:100", Principal::Kind::group, 100);
}

TEST_CASE("user and group principals are resolved to ids", "[authorization]") {
    check_principal("user:root", Principal::Kind::user, 0);
    check_principal("group:root", Principal::Kind::group, 0);
}

TEST_CASE("a principal naming nobody is refused at once", "[authorization][errors]") {
    check_refused("user:hostcrypt-no-such-user", "there is no user hostcrypt-no-such-user");
    check_refused("group:hostcrypt-no-such-group", "there is no group hostcrypt-no-such-group");
    check_refused("user:", "there is no user ");
}

TEST_CASE("a principal of an unknown kind is refused", "[authorization][errors]") {
    check_refused("root", "it has no kind");
    check_refused("", "it has no kind");
    check_refused("role:reader", "\"role\" is not user, group, uid or gid");
    check_refused("User:root", "\"User\" is not user, group, uid or gid");
    check_refused(":root", "\"\" is not user, group, uid or gid");
    check_refused("users:root", "\"users\" is not user, group, uid or gid");
}

TEST_CASE("a uid or gid that is not a number is refused", "[authorization][errors]") {
    check_refused("uid:", "\"\" is not a number");
    check_refused("uid:alice", "\"alice\" is not a number");
    check_refused("uid:-1", "\"-1\" is not a number");
    check_refused("uid:+1", "\"+1\" is not a number");
    check_refused("uid: 1", "\" 1\" is not a number");
    check_refused("uid:12a", "\"12a\" is not a number");
    check_refused("gid:1.5", "\"1.5\" is not a number");
    check_refused("gid:4294967296", "\"4294967296\" is not a number");
    check_refused("uid:1:2", "\"1:2\" is not a number");
}

TEST_CASE("root holds every role without grants", "[authorization]") {
    PeerCredentials root = stranger();
    root.uid = 0;
    const RoleSet roles = roles_of(root, {});
    CHECK(roles_text(roles) == "reader operator crypto-officer");
}

TEST_CASE("the daemon's own user holds every role", "[authorization]") {
    PeerCredentials self = stranger();
    self.uid = ::geteuid();
    CHECK(roles_text(roles_of(self, {})) == "reader operator crypto-officer");
}

TEST_CASE("a caller without grants holds no role", "[authorization]") {
    REQUIRE(::geteuid() != 4242);
    CHECK(roles_of(stranger(), {}).empty());
    const std::vector<RoleGrant> others{
        {Role::reader, user(4243)},
        {Role::disk_operator, group(5001)},
        {Role::crypto_officer, group(300)},
        // A user grant does not match a group id, nor a group grant a uid.
        {Role::crypto_officer, user(5000)},
        {Role::crypto_officer, user(100)},
        {Role::disk_operator, group(4242)},
    };
    CHECK(roles_text(roles_of(stranger(), others)).empty());
}

TEST_CASE("a grant to the caller's uid applies", "[authorization]") {
    const RoleSet roles = roles_of(stranger(), {{Role::disk_operator, user(4242)}});
    CHECK(roles_text(roles) == "reader operator");
}

TEST_CASE("a grant to the caller's primary group applies", "[authorization]") {
    const RoleSet roles = roles_of(stranger(), {{Role::crypto_officer, group(5000)}});
    CHECK(roles_text(roles) == "reader crypto-officer");
}

TEST_CASE("a grant to a supplementary group applies", "[authorization]") {
    CHECK(roles_text(roles_of(stranger(), {{Role::reader, group(100)}})) == "reader");
    CHECK(roles_text(roles_of(stranger(), {{Role::disk_operator, group(200)}})) ==
          "reader operator");
}

TEST_CASE("grants add up", "[authorization]") {
    const std::vector<RoleGrant> grants{
        {Role::reader, user(1)},
        {Role::disk_operator, group(200)},
        {Role::crypto_officer, user(4242)},
    };
    CHECK(roles_text(roles_of(stranger(), grants)) == "reader operator crypto-officer");
}

TEST_CASE("peer credentials of a socketpair are this process's", "[authorization]") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    const hostcrypt::UniqueFd first(pair[0]);
    const hostcrypt::UniqueFd second(pair[1]);
    const PeerCredentials peer = peer_credentials(first.get());
    CHECK(peer.pid == ::getpid());
    CHECK(peer.uid == ::geteuid());
    CHECK(peer.gid == ::getegid());

    std::vector<gid_t> expected(static_cast<std::size_t>(::getgroups(0, nullptr)));
    REQUIRE(::getgroups(static_cast<int>(expected.size()), expected.data()) ==
            static_cast<int>(expected.size()));
    std::vector<gid_t> groups = peer.groups;
    std::sort(groups.begin(), groups.end());
    std::sort(expected.begin(), expected.end());
    CHECK(groups == expected);
}

TEST_CASE("peer credentials of something not a socket are an error", "[authorization][errors]") {
    int pipe_ends[2];
    REQUIRE(::pipe2(pipe_ends, O_CLOEXEC) == 0);
    const hostcrypt::UniqueFd reader(pipe_ends[0]);
    const hostcrypt::UniqueFd writer(pipe_ends[1]);
    const hostcrypt::Error error =
        thrown<hostcrypt::Error>([&] { peer_credentials(reader.get()); });
    CHECK_THAT(error.what(),
               Equals("cannot read the caller's credentials: Socket operation on non-socket"));
}

TEST_CASE("a caller is described by name uid and pid", "[authorization]") {
    PeerCredentials root;
    root.pid = 4242;
    root.uid = 0;
    CHECK(describe(root) == "root (uid 0, pid 4242)");
    PeerCredentials unknown;
    unknown.pid = 1;
    unknown.uid = 3999999;
    REQUIRE(::getpwuid(3999999) == nullptr);
    CHECK(describe(unknown) == "? (uid 3999999, pid 1)");
}
