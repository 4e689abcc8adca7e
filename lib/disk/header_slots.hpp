#pragma once

// The two header slots of a backing store and the protocol that keeps one of
// them intact through a crash at any byte.
//
// Every update writes the new header, with the next sequence number, to both
// slots in turn and syncs after each: first the slot that does not hold the
// newest header, then the other. A crash during the first write leaves the
// other slot's old header; during the second, the first slot's new header.
// Opening takes the valid slot with the highest sequence number.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "disk/disk_catalog.hpp"
#include "disk/disk_header.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::disk {

struct SlotStatus {
    bool valid = false;
    std::uint64_t sequence = 0;  // when valid
    std::string problem;         // when not valid
};

// What each slot holds, without throwing for invalid slots (for `disk check`).
std::array<SlotStatus, 2> inspect_header_slots(storage::Storage& storage, const std::string& disk);

// The newest valid header. If neither slot is valid, throws the DiskError
// that best says why (a hostcrypt header that is damaged, of an unknown
// version or truncated, before "not a hostcrypt disk").
DiskHeader read_newest_header(storage::Storage& storage, const std::string& disk);
// The same, for a catalog disk: opens its backing store read-only.
DiskHeader read_newest_header(const CatalogEntry& entry);

// The headers of the valid slots (zero, one or two), for work that must
// consider the fallback copy too.
std::vector<DiskHeader> valid_header_slots(storage::Storage& storage, const std::string& disk);

// Whether both slots hold a valid header with the same sequence number, as
// every completed update leaves them.
bool header_slots_in_step(storage::Storage& storage, const std::string& disk);

// Writes `header` to both slots by the protocol above with the next sequence
// number; returns the header as written (sequence set). Reads only what it
// needs to choose the order; throws what the storage throws.
DiskHeader write_header(storage::Storage& storage, DiskHeader header, const std::string& disk);

}  // namespace hostcrypt::disk
