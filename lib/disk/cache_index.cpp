#include "disk/cache_index.hpp"

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
    return entry.used ? std::optional(entry.sector) : std::nullopt;
}

void CacheIndex::release(std::uint64_t slot) {
    Slot& entry = slots_[slot];
    by_sector_.erase(entry.sector);
    entry = Slot{};
}

std::optional<std::uint64_t> CacheIndex::claim(std::uint64_t sector) {
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
            if (entry.dirty) {
                continue;
            }
            if (entry.referenced) {
                entry.referenced = false;
                continue;
            }
            release(slot);
            chosen = slot;
            break;
        }
    }
    if (chosen) {
        slots_[*chosen] = Slot{sector, true, false, true};
        by_sector_[sector] = *chosen;
    }
    return chosen;
}

void CacheIndex::mark_dirty(std::uint64_t slot) {
    Slot& entry = slots_.at(slot);
    if (entry.used && !entry.dirty) {
        entry.dirty = true;
        ++dirty_;
    }
}

void CacheIndex::mark_clean(std::uint64_t slot) {
    Slot& entry = slots_.at(slot);
    if (entry.dirty) {
        entry.dirty = false;
        --dirty_;
    }
}

bool CacheIndex::forget(std::uint64_t sector) {
    const auto found = by_sector_.find(sector);
    if (found == by_sector_.end()) {
        return false;
    }
    const std::uint64_t slot = found->second;
    mark_clean(slot);
    release(slot);
    free_.push_back(slot);
    return true;
}

std::vector<std::uint64_t> CacheIndex::dirty_from(std::uint64_t after, std::size_t limit) const {
    std::vector<std::uint64_t> result;
    for (std::uint64_t step = 0; step < slots_.size() && result.size() < limit; ++step) {
        const std::uint64_t slot = (after + step) % slots_.size();
        if (slots_[slot].dirty) {
            result.push_back(slot);
        }
    }
    return result;
}

std::vector<std::byte> CacheIndex::serialize() const {
    std::vector<std::byte> bytes(slots_.size() * cache_index_entry_size);
    for (std::uint64_t slot = 0; slot < slots_.size(); ++slot) {
        const Slot& entry = slots_[slot];
        std::byte* out = bytes.data() + slot * cache_index_entry_size;
        store_u64(out, entry.used ? entry.sector + 1 : 0);
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
        index.slots_[slot - 1] = Slot{sector, true, dirty, false};
        index.dirty_ += dirty ? 1 : 0;
    }
    return index;
}

}  // namespace hostcrypt::disk
