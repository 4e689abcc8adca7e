#pragma once

// Who may call what on the control socket. The config grants roles to Unix
// users and groups; a caller's roles come from the credentials the kernel
// reports for its end of the socket (SO_PEERCRED, SO_PEERGROUPS), never from
// anything the caller says.

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "control/role.hpp"

namespace hostcrypt::daemon {

struct Principal {
    enum class Kind { user, group };
    Kind kind = Kind::user;
    std::uint32_t id = 0;  // uid or gid
    std::string text;      // as the config wrote it, for messages

    bool operator==(const Principal&) const = default;
};

// "user:NAME", "group:NAME", "uid:N" or "gid:N". Names are resolved now, so
// a typo fails at start-up rather than silently granting nothing. Throws
// ConfigError(invalid_value).
Principal parse_principal(std::string_view text);

struct RoleGrant {
    control::Role role;
    Principal principal;

    bool operator==(const RoleGrant&) const = default;
};

struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups
};

// Reads the credentials of the process at the other end of a unix socket.
// Throws hostcrypt::Error if the kernel does not tell.
PeerCredentials peer_credentials(int socket);

// Root or the daemon's own user.
bool is_privileged(const PeerCredentials& caller) noexcept;

// Root and the daemon's own user hold every role; everyone else what the
// grants give their uid, primary group or supplementary groups.
control::RoleSet roles_of(const PeerCredentials& caller, const std::vector<RoleGrant>& grants);

// "alice (uid 1000, pid 4242)" for logs and audit records.
std::string describe(const PeerCredentials& caller);

}  // namespace hostcrypt::daemon
