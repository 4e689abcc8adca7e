#include "disk/cache_index.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "disk/disk_error.hpp"
#include "disk/disk_header.hpp"

namespace hostcrypt::disk {

namespace {

constexpr std::uint64_t flag_dirty = 1;

void store_u64(std::byte* out, std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
        out[i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
    }
}

std::uint64_t load_u64(const std::byte* in) {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) {
        value |= static_cast<std::uint64_t>(in[i]) << (8 * i);
    }
    return value;
}

}  // namespace

CacheIndex::CacheIndex(std::uint64_t slot_count) : slots_(slot_count) {
    free_.reserve(slot_count);
    for (std::uint64_t slot = slot_count; slot > 0; --slot) {
        free_.push_back(slot - 1);  // handed out lowest first
    }
}

std::uint64_t CacheIndex::reusable_slots() const noexcept {
    const std::uint64_t held = dirty_ + pinned_;  // a pinned dirty slot counts twice: a floor
    return held >= slots_.size() ? 0 : slots_.size() - held;
}

std::optional<std::uint64_t> CacheIndex::find(std::uint64_t sector) {
    const auto found = by_sector_.find(sector);
    if (found == by_sector_.end()) {
        return std::nullopt;
    }
    slots_[found->second].referenced = true;
    return found->second;
}

std::optional<std::uint64_t> CacheIndex::sector_of(std::uint64_t slot) const {
    const Slot& entry = slots_.at(slot);
    return entry.mapped ? std::optional(entry.sector) : std::nullopt;
}

void CacheIndex::pin(std::uint64_t slot) {
    if (slots_.at(slot).pins++ == 0) {
        ++pinned_;
    }
}

void CacheIndex::unpin(std::uint64_t slot) {
    Slot& entry = slots_.at(slot);
    if (entry.pins == 0) {
        return;
    }
    if (--entry.pins == 0) {
        --pinned_;
        free_if_unused(slot);
    }
}

void CacheIndex::free_if_unused(std::uint64_t slot) {
    Slot& entry = slots_[slot];
    if (!entry.mapped && entry.pins == 0 && !entry.writing_back) {
        entry = Slot{};
        free_.push_back(slot);
    }
}

void CacheIndex::unmap(std::uint64_t slot) {
    Slot& entry = slots_[slot];
    if (!entry.mapped) {
        return;
    }
    by_sector_.erase(entry.sector);
    if (entry.dirty) {
        entry.dirty = false;
        --dirty_;
        dirty_sectors_.erase(entry.sector);
    }
    entry.mapped = false;
    free_if_unused(slot);
}

std::optional<std::uint64_t> CacheIndex::reserve() {
    std::optional<std::uint64_t> chosen;
    if (!free_.empty()) {
        chosen = free_.back();
        free_.pop_back();
    } else {
        // Two sweeps at most: the first clears the reference bits it passes.
        for (std::uint64_t step = 0; step < 2 * slots_.size(); ++step) {
            Slot& entry = slots_[hand_];
            const std::uint64_t slot = hand_;
            hand_ = (hand_ + 1) % slots_.size();
            if (!entry.mapped || entry.dirty || entry.pins > 0 || entry.writing_back) {
                continue;
            }
            if (entry.referenced) {
                entry.referenced = false;
                continue;
            }
            by_sector_.erase(entry.sector);
            entry = Slot{};
            chosen = slot;
            break;
        }
    }
    if (chosen) {
        pin(*chosen);
    }
    return chosen;
}

void CacheIndex::publish(std::uint64_t slot, std::uint64_t sector, bool dirty,
                         std::uint64_t sequence) {
    Slot& entry = slots_.at(slot);
    std::uint64_t dirty_since = sequence;
    if (const auto held = by_sector_.find(sector); held != by_sector_.end()) {
        const Slot& before = slots_[held->second];
        // Writes the older slot holds are not on the disk yet unless it is
        // being written back now: the new content carries them.
        if (before.dirty && !before.writing_back) {
            dirty_since = before.dirty_since;
        }
        unmap(held->second);
    }
    entry.sector = sector;
    entry.mapped = true;
    entry.referenced = true;
    entry.dirty = dirty;
    entry.dirty_since = dirty ? dirty_since : 0;
    if (dirty) {
        ++dirty_;
        dirty_sectors_.insert(sector);
    }
    by_sector_[sector] = slot;
    unpin(slot);
}

void CacheIndex::cancel(std::uint64_t slot) {
    unpin(slot);
}

bool CacheIndex::forget(std::uint64_t sector) {
    const auto found = by_sector_.find(sector);
    if (found == by_sector_.end()) {
        return false;
    }
    unmap(found->second);
    return true;
}

void CacheIndex::forget_range(std::uint64_t first, std::uint64_t end) {
    if (end - first <= by_sector_.size()) {
        for (std::uint64_t sector = first; sector < end; ++sector) {
            forget(sector);
        }
        return;
    }
    // A large range (a trim of the whole disk): fewer slots than sectors.
    for (std::uint64_t slot = 0; slot < slots_.size(); ++slot) {
        const Slot& entry = slots_[slot];
        if (entry.mapped && entry.sector >= first && entry.sector < end) {
            unmap(slot);
        }
    }
}

std::vector<CacheIndex::SlotOfSector> CacheIndex::start_write_back(std::size_t limit) {
    std::vector<SlotOfSector> taken;
    auto next = dirty_sectors_.lower_bound(write_back_cursor_);
    for (std::size_t step = 0; step < dirty_sectors_.size() && taken.size() < limit; ++step) {
        if (next == dirty_sectors_.end()) {
            next = dirty_sectors_.begin();  // round again from the start of the disk
        }
        const std::uint64_t sector = *next++;
        const std::uint64_t slot = by_sector_.at(sector);
        Slot& entry = slots_[slot];
        if (!entry.writing_back) {
            entry.writing_back = true;
            pin(slot);
            taken.push_back({slot, sector});
            write_back_cursor_ = sector + 1;
        }
    }
    std::sort(taken.begin(), taken.end(),
              [](const SlotOfSector& a, const SlotOfSector& b) { return a.sector < b.sector; });
    return taken;
}

void CacheIndex::finish_write_back(std::uint64_t slot, bool written) {
    Slot& entry = slots_.at(slot);
    entry.writing_back = false;
    if (written && entry.dirty) {
        entry.dirty = false;
        entry.dirty_since = 0;
        --dirty_;
        dirty_sectors_.erase(entry.sector);
    }
    unpin(slot);
}

std::optional<std::uint64_t> CacheIndex::oldest_unwritten() const {
    std::optional<std::uint64_t> oldest;
    if (dirty_ == 0 && pinned_ == 0) {
        return oldest;
    }
    for (const Slot& entry : slots_) {
        if ((entry.dirty || entry.writing_back) && (!oldest || entry.dirty_since < *oldest)) {
            oldest = entry.dirty_since;
        }
    }
    return oldest;
}

std::vector<std::byte> CacheIndex::serialize() const {
    std::vector<std::byte> bytes(slots_.size() * cache_index_entry_size);
    for (std::uint64_t slot = 0; slot < slots_.size(); ++slot) {
        const Slot& entry = slots_[slot];
        std::byte* out = bytes.data() + slot * cache_index_entry_size;
        store_u64(out, entry.mapped ? entry.sector + 1 : 0);
        store_u64(out + 8, entry.dirty ? flag_dirty : 0);
    }
    return bytes;
}

CacheIndex CacheIndex::deserialize(std::span<const std::byte> bytes, std::uint64_t slot_count,
                                   std::uint64_t sectors, const std::string& cache) {
    const auto corrupt = [&cache](const std::string& what) {
        return DiskError(DiskErrc::corrupt, fmt::format("cache {}: index {}", cache, what));
    };
    if (bytes.size() != slot_count * cache_index_entry_size) {
        throw corrupt(
            fmt::format("is {} bytes, not {}", bytes.size(), slot_count * cache_index_entry_size));
    }
    CacheIndex index(slot_count);
    index.free_.clear();
    for (std::uint64_t slot = slot_count; slot > 0; --slot) {
        const std::byte* in = bytes.data() + (slot - 1) * cache_index_entry_size;
        const std::uint64_t stored = load_u64(in);
        const std::uint64_t flags = load_u64(in + 8);
        if ((flags & ~flag_dirty) != 0 || (stored == 0 && flags != 0)) {
            throw corrupt(fmt::format("slot {} has unknown state {:#x}", slot - 1, flags));
        }
        if (stored == 0) {
            index.free_.push_back(slot - 1);
            continue;
        }
        const std::uint64_t sector = stored - 1;
        if (sector >= sectors) {
            throw corrupt(
                fmt::format("slot {} holds sector {}, past the disk's end", slot - 1, sector));
        }
        if (!index.by_sector_.emplace(sector, slot - 1).second) {
            throw corrupt(fmt::format("holds sector {} twice", sector));
        }
        const bool dirty = (flags & flag_dirty) != 0;
        Slot& entry = index.slots_[slot - 1];
        entry.sector = sector;
        entry.mapped = true;
        entry.dirty = dirty;
        if (dirty) {
            ++index.dirty_;
            index.dirty_sectors_.insert(sector);
        }
    }
    return index;
}

}  // namespace hostcrypt::disk
