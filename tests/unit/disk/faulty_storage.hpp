#pragma once

// Backing stores for crash tests: an in-memory store, and a wrapper that
// lets a planned number of writes through, tears the next one after a
// chosen number of bytes and then fails every write and sync, as if the
// machine had died at that byte. Optionally, writes not yet synced are lost
// in the crash while the torn one lands, as a device that reorders writes
// may do: only sync() makes a write durable.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::disk::test {

class MemoryStorage final : public storage::Storage {
  public:
    explicit MemoryStorage(std::uint64_t size, std::string name = "memory")
        : bytes_(static_cast<std::size_t>(size)), name_(std::move(name)) {}

    const std::string& name() const override { return name_; }
    std::uint64_t size() const override { return bytes_.size(); }
    std::size_t read_at(std::span<std::byte> bytes, std::uint64_t offset) override {
        if (offset >= bytes_.size()) {
            return 0;
        }
        const std::size_t start = static_cast<std::size_t>(offset);
        const std::size_t count = std::min(bytes.size(), bytes_.size() - start);
        std::memcpy(bytes.data(), bytes_.data() + start, count);
        return count;
    }
    void write_at(std::span<const std::byte> bytes, std::uint64_t offset) override {
        const std::size_t start = static_cast<std::size_t>(offset);
        if (start + bytes.size() > bytes_.size()) {
            bytes_.resize(start + bytes.size());
        }
        std::memcpy(bytes_.data() + start, bytes.data(), bytes.size());
    }
    void sync() override {}

    std::vector<std::byte>& bytes() noexcept { return bytes_; }

  private:
    std::vector<std::byte> bytes_;
    std::string name_;
};

// What a simulated crash does, shared by every FaultyStorage of one run so
// that writes are counted across disks.
struct FaultPlan {
    static constexpr std::size_t never = std::numeric_limits<std::size_t>::max();

    std::size_t fail_at = never;  // index of the write that is torn, counting from 0
    std::size_t torn_bytes = 0;   // how much of it reaches the store (all of it: fails at sync)
    bool lose_unsynced = false;   // the crash loses completed writes not yet synced
    std::size_t writes = 0;       // writes attempted so far
    bool crashed = false;
    std::vector<std::uint64_t> write_offsets;  // of every write attempted
};

// Thrown by a FaultyStorage; an Error like any I/O failure of a real store.
class SimulatedCrash : public Error {
  public:
    using Error::Error;
};

class FaultyStorage final : public storage::Storage {
  public:
    FaultyStorage(std::unique_ptr<storage::Storage> inner, std::shared_ptr<FaultPlan> plan)
        : owned_(std::move(inner)), inner_(*owned_), plan_(std::move(plan)) {}
    // Wraps a store the caller keeps.
    FaultyStorage(storage::Storage& inner, std::shared_ptr<FaultPlan> plan)
        : inner_(inner), plan_(std::move(plan)) {}
    FaultyStorage(const FaultyStorage&) = delete;
    FaultyStorage& operator=(const FaultyStorage&) = delete;
    ~FaultyStorage() override {
        if (!plan_->crashed) {
            apply_unsynced();  // closed without a crash: the writes stay
        }
    }

    const std::string& name() const override { return inner_.name(); }
    std::uint64_t size() const override { return inner_.size(); }
    // Reads see every write made so far, synced or not.
    std::size_t read_at(std::span<std::byte> bytes, std::uint64_t offset) override {
        const std::size_t count = inner_.read_at(bytes, offset);
        for (const auto& [at, data] : unsynced_) {
            for (std::size_t i = 0; i < data.size(); ++i) {
                if (at + i >= offset && at + i < offset + bytes.size()) {
                    bytes[static_cast<std::size_t>(at + i - offset)] = data[i];
                }
            }
        }
        return count;
    }
    void write_at(std::span<const std::byte> bytes, std::uint64_t offset) override {
        if (plan_->crashed) {
            throw SimulatedCrash(fmt::format("{}: write after the simulated crash", name()));
        }
        const std::size_t index = plan_->writes++;
        plan_->write_offsets.push_back(offset);
        if (index == plan_->fail_at) {
            plan_->crashed = true;
            if (!plan_->lose_unsynced) {
                apply_unsynced();
            }
            unsynced_.clear();
            const std::size_t torn = std::min(plan_->torn_bytes, bytes.size());
            if (torn > 0) {
                inner_.write_at(bytes.first(torn), offset);
            }
            throw SimulatedCrash(
                fmt::format("{}: simulated crash in write {} at {} after {} of {} "
                            "bytes",
                            name(), index, offset, torn, bytes.size()));
        }
        unsynced_.emplace_back(offset, std::vector<std::byte>(bytes.begin(), bytes.end()));
    }
    void sync() override {
        if (plan_->crashed) {
            throw SimulatedCrash(fmt::format("{}: sync after the simulated crash", name()));
        }
        apply_unsynced();
        inner_.sync();
    }

  private:
    void apply_unsynced() {
        for (const auto& [at, data] : unsynced_) {
            inner_.write_at(data, at);
        }
        unsynced_.clear();
    }

    std::unique_ptr<storage::Storage> owned_;
    storage::Storage& inner_;
    std::shared_ptr<FaultPlan> plan_;
    std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> unsynced_;
};

}  // namespace hostcrypt::disk::test
