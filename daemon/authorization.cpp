#include "daemon/authorization.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "daemon/config_error.hpp"

namespace hostcrypt::daemon {

namespace {

[[noreturn]] void invalid(std::string_view text, std::string_view why) {
    throw ConfigError(ConfigErrc::invalid_value,
                      fmt::format("\"{}\" is not a principal: {}; write user:NAME, group:NAME, "
                                  "uid:N or gid:N",
                                  text, why));
}

std::uint32_t parse_id(std::string_view whole, std::string_view digits) {
    std::uint32_t value = 0;
    const auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || parsed.ec != std::errc() || parsed.ptr != digits.data() + digits.size()) {
        invalid(whole, fmt::format("\"{}\" is not a number", digits));
    }
    return value;
}

}  // namespace

Principal parse_principal(std::string_view text) {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
        invalid(text, "it has no kind");
    }
    const std::string_view kind = text.substr(0, colon);
    const std::string name(text.substr(colon + 1));
    Principal principal;
    principal.text = std::string(text);
    if (kind == "uid" || kind == "gid") {
        principal.kind = kind == "uid" ? Principal::Kind::user : Principal::Kind::group;
        principal.id = parse_id(text, name);
    } else if (kind == "user") {
        const passwd* entry = ::getpwnam(name.c_str());
        if (entry == nullptr) {
            invalid(text, fmt::format("there is no user {}", name));
        }
        principal.kind = Principal::Kind::user;
        principal.id = entry->pw_uid;
    } else if (kind == "group") {
        const group* entry = ::getgrnam(name.c_str());
        if (entry == nullptr) {
            invalid(text, fmt::format("there is no group {}", name));
        }
        principal.kind = Principal::Kind::group;
        principal.id = entry->gr_gid;
    } else {
        invalid(text, fmt::format("\"{}\" is not user, group, uid or gid", kind));
    }
    return principal;
}

PeerCredentials peer_credentials(int socket) {
    ucred credentials{};
    socklen_t length = sizeof credentials;
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
        throw Error(fmt::format("cannot read the caller's credentials: {}", std::strerror(errno)));
    }
    PeerCredentials peer{credentials.pid, credentials.uid, credentials.gid, {}};
    // Supplementary groups as the kernel has them for the caller, not as
    // /etc/group says they would be at a fresh login.
    std::vector<gid_t> groups(64);
    for (;;) {
        length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (::getsockopt(socket, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) == 0) {
            groups.resize(length / sizeof(gid_t));
            break;
        }
        if (errno != ERANGE) {
            throw Error(fmt::format("cannot read the caller's groups: {}", std::strerror(errno)));
        }
        groups.resize(length / sizeof(gid_t) + 1);
    }
    peer.groups = std::move(groups);
    return peer;
}

bool is_privileged(const PeerCredentials& caller) noexcept {
    return caller.uid == 0 || caller.uid == ::geteuid();
}

control::RoleSet roles_of(const PeerCredentials& caller, const std::vector<RoleGrant>& grants) {
    if (is_privileged(caller)) {
        return control::RoleSet::all();
    }
    control::RoleSet roles;
    for (const RoleGrant& grant : grants) {
        const Principal& who = grant.principal;
        const bool matches =
            who.kind == Principal::Kind::user
                ? who.id == caller.uid
                : who.id == caller.gid || std::find(caller.groups.begin(), caller.groups.end(),
                                                    who.id) != caller.groups.end();
        if (matches) {
            roles.add(grant.role);
        }
    }
    return roles;
}

std::string describe(const PeerCredentials& caller) {
    const passwd* entry = ::getpwuid(caller.uid);
    return fmt::format("{} (uid {}, pid {})", entry != nullptr ? entry->pw_name : "?", caller.uid,
                       caller.pid);
}

}  // namespace hostcrypt::daemon
