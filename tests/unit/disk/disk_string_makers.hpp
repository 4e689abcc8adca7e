#pragma once

// How Catch prints the disk layer's error codes in a failed check; every
// test that compares them includes this (see keys/keys_string_makers.hpp).

#include <string>

#include <catch2/catch.hpp>

#include "disk/disk_error.hpp"

namespace Catch {
template <>
struct StringMaker<hostcrypt::disk::DiskErrc> {
    static std::string convert(hostcrypt::disk::DiskErrc code) {
        return hostcrypt::disk::to_string(code);
    }
};
}  // namespace Catch
