#pragma once

// The other reactors a connection may lend a large request's storage-and-
// crypto step to, so that one busy connection can use more than one core: a
// connection lives on its home reactor (its socket never leaves it), but
// reading and decrypting 128 KiB, or encrypting and writing it, can run on
// a reactor that has time for it while home goes on receiving and sending.
//
// A reactor is lent only while it has fewer than `guest_limit` guests, so a
// busy one is left to its own connections and home does the work itself.
// Each helper gets its own cipher for the disk (cipher contexts belong to
// one thread at a time); it is rebuilt when the disk's keys change, but only
// once none of this connection's steps is still out on that reactor.
//
// Home reactor thread only.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "crypto/cipher_stack.hpp"
#include "disk/served_disk.hpp"
#include "io/reactor.hpp"

namespace hostcrypt::daemon {

struct LendingPolicy {
    // false: nothing is lent, and no helper cipher is built.
    bool enabled = true;
    // Smaller steps stay home: handing one over would cost more than it saves.
    std::size_t min_bytes = std::size_t{32} << 10;
    // A step is lent only while home has at least this many requests in
    // flight: a lone request gains nothing by travelling, and pays two
    // thread wake-ups in latency.
    unsigned home_busy_at = 2;
    // Steps a helper may hold at once, from every connection together.
    unsigned guest_limit = 16;
    // A reactor with this many requests of its own in flight is busy: it
    // lends nobody a hand (two busy reactors swapping work only lose).
    unsigned busy_at = 4;
};

class HelpingHands {
  public:
    // A helper taken for one step: run on `reactor`, encrypt or decrypt with
    // `cipher`, come home, give it back. Empty: do the step at home.
    struct Hand {
        io::Reactor* reactor = nullptr;
        crypto::CipherStack* cipher = nullptr;
        std::size_t helper = 0;
        std::uint64_t generation = 0;  // of the disk's keys `cipher` holds
        explicit operator bool() const noexcept { return reactor != nullptr; }
    };

    // `reactors` is every reactor of the daemon; `home` is left out.
    HelpingHands(io::Reactor& home, std::span<io::Reactor* const> reactors, disk::ServedDisk& disk,
                 LendingPolicy policy);
    HelpingHands(const HelpingHands&) = delete;
    HelpingHands& operator=(const HelpingHands&) = delete;
    ~HelpingHands();

    // A helper for a step of `bytes`, if home has other requests to get on
    // with, a helper has time, and the disk's keys are usable.
    Hand borrow(std::size_t bytes) noexcept;
    // Any thread: whether the disk's keys are still those of `hand` (the
    // helper checks before it encrypts or decrypts: a revocation while the
    // step travelled leaves the decision to home).
    bool keys_unchanged(const Hand& hand) const noexcept {
        return disk_.keys().generation() == hand.generation;
    }
    // After the step came home.
    void give_back(const Hand& hand) noexcept;
    // Drops the ciphers of keys no longer current (none is out).
    void refresh() noexcept;

  private:
    struct Helper {
        io::Reactor* reactor = nullptr;
        std::optional<crypto::CipherStack> cipher;
        std::uint64_t generation = 0;  // of the keys `cipher` was built from
        unsigned out = 0;              // this connection's steps on it now
    };

    crypto::CipherStack* current_cipher(Helper& helper) noexcept;
    // Drops a cipher of keys no longer current once no step uses it.
    void drop_if_stale(Helper& helper) noexcept;

    io::Reactor& home_;
    disk::ServedDisk& disk_;
    LendingPolicy policy_;
    std::vector<Helper> helpers_;
    std::size_t next_ = 0;  // where the next search for a helper starts
};

}  // namespace hostcrypt::daemon
