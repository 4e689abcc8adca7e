#pragma once

// The index of a host cache: which disk sector each cache slot holds, and
// whether the slot is dirty (written by a client, not yet written back to
// the disk). Slots are reused by CLOCK (second chance): a slot read or
// written since the hand last passed is spared once. A dirty slot is never
// reused; the cache writes it back first.
//
// Persisted at a clean close as slot_count entries of 16 bytes
// (docs/format.md, "Host cache"): the sector plus one (0: empty slot) and
// the state flags, both little-endian u64.
//
// Thread safety: none; the cache that owns it serializes access.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace hostcrypt::disk {

class CacheIndex {
  public:
    explicit CacheIndex(std::uint64_t slot_count);

    std::uint64_t slot_count() const noexcept { return slots_.size(); }
    std::uint64_t used_slots() const noexcept { return by_sector_.size(); }
    std::uint64_t dirty_slots() const noexcept { return dirty_; }

    // The slot that holds `sector`, if any; counts as a use.
    std::optional<std::uint64_t> find(std::uint64_t sector);
    // The sector slot `slot` holds, if any.
    std::optional<std::uint64_t> sector_of(std::uint64_t slot) const;
    bool is_dirty(std::uint64_t slot) const { return slots_.at(slot).dirty; }

    // A slot to hold `sector` (which must not be cached): an empty one, or
    // the clean slot CLOCK picks, forgetting the sector it held. None when
    // every slot is dirty.
    std::optional<std::uint64_t> claim(std::uint64_t sector);
    void mark_dirty(std::uint64_t slot);
    void mark_clean(std::uint64_t slot);
    // Forgets `sector` (a write that bypassed the cache, a trim); returns
    // whether it was cached.
    bool forget(std::uint64_t sector);
    // Up to `limit` dirty slots, in slot order from `after`, for write-back.
    std::vector<std::uint64_t> dirty_from(std::uint64_t after, std::size_t limit) const;

    std::vector<std::byte> serialize() const;
    // Throws DiskError(corrupt) naming `cache` for an index of the wrong
    // size, unknown flags, a sector held by two slots or beyond `sectors`.
    static CacheIndex deserialize(std::span<const std::byte> bytes, std::uint64_t slot_count,
                                  std::uint64_t sectors, const std::string& cache);

  private:
    struct Slot {
        std::uint64_t sector = 0;
        bool used = false;
        bool dirty = false;
        bool referenced = false;
    };
    void release(std::uint64_t slot);

    std::vector<Slot> slots_;
    std::unordered_map<std::uint64_t, std::uint64_t> by_sector_;  // sector -> slot
    std::vector<std::uint64_t> free_;                             // empty slots
    std::uint64_t hand_ = 0;
    std::uint64_t dirty_ = 0;
};

}  // namespace hostcrypt::disk
