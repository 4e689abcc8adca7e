#pragma once

// What the handshake needs to know of the exports: their names, sizes and
// block-size constraints. The daemon implements ExportDirectory over its disk
// catalog; this layer knows nothing of disks or keys.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hostcrypt::nbd {

struct ExportInfo {
    std::string name;
    std::string description;
    std::uint64_t size = 0;
    // The spec's three block-size constraints ("Block size constraints"):
    // for hostcrypt the minimum is the disk's crypto sector (512 or 4096),
    // below which a write would need a read-modify-write of a whole sector.
    std::uint32_t minimum_block = 0;
    std::uint32_t preferred_block = 0;
    std::uint32_t maximum_block = 0;
    bool read_only = false;
};

// The values hostcrypt advertises besides the minimum. 2^25 is also the
// largest payload the spec asks servers never to treat as a denial of
// service, so a maximum of that size refuses no request a client may fairly
// expect to be served.
inline constexpr std::uint32_t preferred_block_size = 4096;
inline constexpr std::uint32_t max_payload_size = 1u << 25;

// Looked up while a connection negotiates; the daemon decides which exports
// a client may see. Results are copied, so the directory may change between
// calls.
class ExportDirectory {
  public:
    virtual ~ExportDirectory() = default;
    virtual std::optional<ExportInfo> find(std::string_view name) const = 0;
    virtual std::vector<ExportInfo> list() const = 0;
};

// Throws NbdError(invalid_export) unless `info` obeys the spec's rules for
// strings (at most 4096 bytes, no NUL) and block sizes (minimum a power of two
// up to 64 KiB; preferred a power of two at least max(minimum, 512); maximum
// a multiple of the minimum and at least min(preferred, size)), its size is a
// whole number of minimum blocks (else the tail is unreachable), and its
// maximum leaves room for one reply chunk (at most 2^32 - 9 bytes), since
// reads are always answered in one chunk. The handshake checks every export
// it is about to offer; the daemon should check when it builds its catalog.
void validate_export(const ExportInfo& info);

// The transmission flags for `info`: flush, FUA, cache and multi-connection
// always; trim, write-zeroes and fast-zero only when writable, as the spec
// asks a read-only export not to invite writes; DF only with structured
// replies (the spec forbids it otherwise), which costs nothing since every
// read is answered with a single data chunk.
std::uint16_t transmission_flags(const ExportInfo& info, bool structured_replies = false) noexcept;

}  // namespace hostcrypt::nbd
