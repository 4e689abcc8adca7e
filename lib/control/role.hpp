#pragma once

// The roles of the control API, modeled on key vault RBAC. Every role may
// read; the two others are disjoint, so the person who manages disks is not
// by that alone able to destroy the keys that protect them.

#include <optional>
#include <string_view>

namespace hostcrypt::control {

enum class Role {
    reader,          // status and listings
    disk_operator,   // disks and encryption sets
    crypto_officer,  // vault keys, rotation, purge, the key monitor
};

// "reader", "operator", "crypto-officer"
const char* to_string(Role role) noexcept;
std::optional<Role> parse_role(std::string_view text) noexcept;

// The roles a caller holds, as a bit set.
class RoleSet {
  public:
    RoleSet() = default;
    static RoleSet all() noexcept;

    void add(Role role) noexcept { bits_ |= bit(role); }
    // Reader is implied by any role.
    bool allows(Role needed) const noexcept {
        return needed == Role::reader ? bits_ != 0 : (bits_ & bit(needed)) != 0;
    }
    bool empty() const noexcept { return bits_ == 0; }

  private:
    static unsigned bit(Role role) noexcept { return 1U << static_cast<unsigned>(role); }
    unsigned bits_ = 0;
};

}  // namespace hostcrypt::control
