#include "disk/disk_error.hpp"

namespace hostcrypt::disk {

const char* to_string(DiskErrc code) noexcept {
    switch (code) {
        case DiskErrc::not_hostcrypt:
            return "not-hostcrypt";
        case DiskErrc::truncated:
            return "truncated";
        case DiskErrc::bad_checksum:
            return "bad-checksum";
        case DiskErrc::unsupported_version:
            return "unsupported-version";
        case DiskErrc::corrupt:
            return "corrupt";
        case DiskErrc::size_mismatch:
            return "size-mismatch";
        case DiskErrc::key_unavailable:
            return "key-unavailable";
        case DiskErrc::unwrap_failed:
            return "unwrap-failed";
        case DiskErrc::invalid_argument:
            return "invalid-argument";
        case DiskErrc::already_exists:
            return "already-exists";
        case DiskErrc::not_found:
            return "not-found";
        case DiskErrc::io:
            return "io";
        case DiskErrc::cache_dirty:
            return "cache-dirty";
    }
    return "unknown";
}

}  // namespace hostcrypt::disk
