#include "control/role.hpp"

namespace hostcrypt::control {

const char* to_string(Role role) noexcept {
    switch (role) {
        case Role::reader:
            return "reader";
        case Role::disk_operator:
            return "operator";
        case Role::crypto_officer:
            return "crypto-officer";
    }
    return "?";
}

std::optional<Role> parse_role(std::string_view text) noexcept {
    for (const Role role : {Role::reader, Role::disk_operator, Role::crypto_officer}) {
        if (text == to_string(role)) {
            return role;
        }
    }
    return std::nullopt;
}

RoleSet RoleSet::all() noexcept {
    RoleSet roles;
    roles.add(Role::reader);
    roles.add(Role::disk_operator);
    roles.add(Role::crypto_officer);
    return roles;
}

}  // namespace hostcrypt::control
