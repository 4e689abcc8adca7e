#include "control/role.hpp"

#include <string>

#include <catch2/catch.hpp>

using namespace hostcrypt::control;

TEST_CASE("roles are written reader and operator and crypto-officer", "[role]") {
    CHECK(std::string(to_string(Role::reader)) == "reader");
    CHECK(std::string(to_string(Role::disk_operator)) == "operator");
    CHECK(std::string(to_string(Role::crypto_officer)) == "crypto-officer");
}

TEST_CASE("parse_role reads back what to_string writes", "[role]") {
    for (const Role role : {Role::reader, Role::disk_operator, Role::crypto_officer}) {
        INFO(to_string(role));
        CHECK(parse_role(to_string(role)) == role);
    }
    CHECK(parse_role("crypto-officer") == Role::crypto_officer);
    CHECK(parse_role("operator") == Role::disk_operator);
}

TEST_CASE("parse_role refuses anything else", "[role]") {
    for (const char* text : {"", "Reader", "READER", "crypto_officer", "disk_operator",
                             "disk-operator", "admin", "reader ", " reader", "crypto"}) {
        INFO(text);
        CHECK(parse_role(text) == std::nullopt);
    }
}

TEST_CASE("an empty role set allows nothing", "[role]") {
    const RoleSet none;
    CHECK(none.empty());
    CHECK_FALSE(none.allows(Role::reader));
    CHECK_FALSE(none.allows(Role::disk_operator));
    CHECK_FALSE(none.allows(Role::crypto_officer));
}

TEST_CASE("reader alone allows reading only", "[role]") {
    RoleSet roles;
    roles.add(Role::reader);
    CHECK_FALSE(roles.empty());
    CHECK(roles.allows(Role::reader));
    CHECK_FALSE(roles.allows(Role::disk_operator));
    CHECK_FALSE(roles.allows(Role::crypto_officer));
}

TEST_CASE("any role implies reader but not the other roles", "[role]") {
    RoleSet operator_only;
    operator_only.add(Role::disk_operator);
    CHECK(operator_only.allows(Role::reader));
    CHECK(operator_only.allows(Role::disk_operator));
    CHECK_FALSE(operator_only.allows(Role::crypto_officer));

    RoleSet officer_only;
    officer_only.add(Role::crypto_officer);
    CHECK(officer_only.allows(Role::reader));
    CHECK(officer_only.allows(Role::crypto_officer));
    CHECK_FALSE(officer_only.allows(Role::disk_operator));
}

TEST_CASE("roles add up and adding twice changes nothing", "[role]") {
    RoleSet roles;
    roles.add(Role::disk_operator);
    roles.add(Role::disk_operator);
    CHECK_FALSE(roles.allows(Role::crypto_officer));
    roles.add(Role::crypto_officer);
    CHECK(roles.allows(Role::reader));
    CHECK(roles.allows(Role::disk_operator));
    CHECK(roles.allows(Role::crypto_officer));
}

TEST_CASE("the set of all roles allows everything", "[role]") {
    const RoleSet all = RoleSet::all();
    CHECK_FALSE(all.empty());
    CHECK(all.allows(Role::reader));
    CHECK(all.allows(Role::disk_operator));
    CHECK(all.allows(Role::crypto_officer));
}
