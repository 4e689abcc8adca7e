#pragma once

#include <string>

#include "common/error.hpp"

namespace hostcrypt::disk {

// Each way a disk can fail to open or be changed has its own code, and every
// message names the disk.
enum class DiskErrc {
    not_hostcrypt,        // no hostcrypt header: a foreign or empty file
    truncated,            // shorter than a header or than the size it claims
    bad_checksum,         // a header whose checksum does not match
    unsupported_version,  // a header of a format this build does not know
    corrupt,              // checksum fine but the content is invalid
    size_mismatch,        // the backing store is too small for the header's size
    key_unavailable,      // a DEK's key-encryption key is not usable now
    unwrap_failed,        // a DEK does not unwrap under the key its header names
    invalid_argument,     // sizes, sector sizes, unaligned I/O
    already_exists,
    not_found,
    io,           // the backing store failed
    cache_dirty,  // a host cache holds data not yet written to its disk
};

const char* to_string(DiskErrc code) noexcept;

class DiskError : public Error {
  public:
    DiskError(DiskErrc code, const std::string& message) : Error(message), code_(code) {}
    DiskErrc code() const noexcept { return code_; }

  private:
    DiskErrc code_;
};

}  // namespace hostcrypt::disk
