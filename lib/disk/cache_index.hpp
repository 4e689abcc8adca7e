#pragma once

// The index of a host cache: which disk sector each cache slot holds, and
// whether the slot is dirty (written by a client, not yet written back to
// the disk).
//
// Slots are never overwritten in place: new content (a client's write, a
// read that fills the cache) goes into a slot reserved for it, which is
// published as the sector's slot only once its bytes are in the cache file;
// the slot that held the sector before is then forgotten. So the bytes of a
// slot someone found stay what they were for as long as it is pinned, and a
// write-back never races a client writing the same slot.
//
// Slots are reused by CLOCK (second chance): a slot read or written since
// the hand last passed is spared once. Dirty, pinned and reserved slots are
// never reused; the cache writes dirty ones back first.
//
// Dirty data carries the sequence number of the oldest write it holds that
// is not on the disk yet (a newer write to the sector inherits the older
// one's number unless that one is being written back), which is what a
// FLUSH waits on.
//
// Persisted at a clean close as slot_count entries of 16 bytes
// (docs/format.md, "Host cache"): the sector plus one (0: empty slot) and
// the state flags, both little-endian u64.
//
// Thread safety: none; the cache that owns it serializes access.

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace hostcrypt::disk {

class CacheIndex {
  public:
    struct SlotOfSector {
        std::uint64_t slot = 0;
        std::uint64_t sector = 0;
    };

    explicit CacheIndex(std::uint64_t slot_count);

    std::uint64_t slot_count() const noexcept { return slots_.size(); }
    // Slots that hold a sector.
    std::uint64_t used_slots() const noexcept { return by_sector_.size(); }
    std::uint64_t dirty_slots() const noexcept { return dirty_; }
    // Slots reserve() could hand out without writing anything back first.
    std::uint64_t reusable_slots() const noexcept;

    // The slot that holds `sector`, if any; counts as a use.
    std::optional<std::uint64_t> find(std::uint64_t sector);
    // The sector slot `slot` holds, if any.
    std::optional<std::uint64_t> sector_of(std::uint64_t slot) const;
    bool is_dirty(std::uint64_t slot) const { return slots_.at(slot).dirty; }

    // Pinned slots keep their bytes: they are not reused until unpinned.
    void pin(std::uint64_t slot);
    void unpin(std::uint64_t slot);

    // A slot for new content: an empty one, or the clean slot CLOCK picks
    // (forgetting the sector it held). It is returned pinned and holding
    // nothing: find() does not see it before publish(). None when every
    // slot is dirty, pinned or reserved.
    std::optional<std::uint64_t> reserve();
    // Reserved `slot` now holds `sector`, clean or dirty since write
    // `sequence`; the slot that held the sector before is forgotten.
    void publish(std::uint64_t slot, std::uint64_t sector, bool dirty, std::uint64_t sequence);
    // Gives a reserved slot back unused.
    void cancel(std::uint64_t slot);
    // Forgets `sector` (a write that bypassed the cache, a trim), dirty or
    // not; returns whether it was cached.
    bool forget(std::uint64_t sector);
    // Forgets every sector in [first, end).
    void forget_range(std::uint64_t first, std::uint64_t end);

    // Takes up to `limit` dirty slots not being written back already, in
    // sector order from where the last call stopped (an elevator: what a
    // client wrote in sequence goes back in sequence, however its slots
    // lie), pinned, lowest sector first: the caller writes them to the disk and then calls
    // finish_write_back() for each.
    std::vector<SlotOfSector> start_write_back(std::size_t limit);
    // The write-back of `slot` ended; if `written`, what it held is on the
    // disk, and the slot is clean if it still holds the sector.
    void finish_write_back(std::uint64_t slot, bool written);
    // The sequence number of the oldest write not yet on the disk, if any
    // (being written back counts as not yet).
    std::optional<std::uint64_t> oldest_unwritten() const;

    std::vector<std::byte> serialize() const;
    // Throws DiskError(corrupt) naming `cache` for an index of the wrong
    // size, unknown flags, a sector held by two slots or beyond `sectors`.
    // Dirty slots read back get sequence number 0 (older than any write).
    static CacheIndex deserialize(std::span<const std::byte> bytes, std::uint64_t slot_count,
                                  std::uint64_t sectors, const std::string& cache);

  private:
    struct Slot {
        std::uint64_t sector = 0;
        std::uint64_t dirty_since = 0;  // sequence of the oldest unwritten write
        std::uint32_t pins = 0;
        bool mapped = false;  // holds `sector` (find() sees it)
        bool dirty = false;   // mapped and not on the disk
        bool referenced = false;
        bool writing_back = false;
    };
    // Stops `slot` holding its sector; frees it unless pinned.
    void unmap(std::uint64_t slot);
    void free_if_unused(std::uint64_t slot);

    std::vector<Slot> slots_;
    std::unordered_map<std::uint64_t, std::uint64_t> by_sector_;  // sector -> slot
    std::vector<std::uint64_t> free_;                             // empty, unpinned
    std::uint64_t hand_ = 0;
    std::uint64_t write_back_cursor_ = 0;    // a sector
    std::set<std::uint64_t> dirty_sectors_;  // of the dirty slots
    std::uint64_t dirty_ = 0;
    std::uint64_t pinned_ = 0;  // slots with pins > 0
};

}  // namespace hostcrypt::disk
