#include "daemon/helping_hands.hpp"

#include <exception>

namespace hostcrypt::daemon {

HelpingHands::HelpingHands(io::Reactor& home, std::span<io::Reactor* const> reactors,
                           disk::ServedDisk& disk, LendingPolicy policy)
    : home_(home), disk_(disk), policy_(policy) {
    for (io::Reactor* reactor : reactors) {
        if (reactor != &home) {
            helpers_.emplace_back().reactor = reactor;
        }
    }
    // Connections of different reactors start their search at different
    // helpers, so the first choices spread.
    if (!helpers_.empty()) {
        next_ = home.index() % helpers_.size();
    }
}

HelpingHands::~HelpingHands() = default;

crypto::CipherStack* HelpingHands::current_cipher(Helper& helper) noexcept {
    const std::uint64_t generation = disk_.keys().generation();
    if (helper.generation == generation) {
        return helper.cipher ? &*helper.cipher : nullptr;
    }
    if (helper.out != 0) {
        return nullptr;  // still in use on the helper's thread: not now
    }
    helper.cipher.reset();
    const disk::KeySlot::Snapshot snapshot = disk_.keys().snapshot();
    if (snapshot.keys) {
        try {
            helper.cipher.emplace(snapshot.keys->make_cipher());
        } catch (const std::exception&) {
            // Not logged here (the optional stays empty): the step stays
            // home, where the same failure is logged and answered with EIO.
        }
    }
    helper.generation = snapshot.generation;
    return helper.cipher ? &*helper.cipher : nullptr;
}

HelpingHands::Hand HelpingHands::borrow(std::size_t bytes) noexcept {
    if (!policy_.enabled || bytes < policy_.min_bytes ||
        home_.own_requests() < policy_.home_busy_at) {
        return {};
    }
    for (std::size_t tried = 0; tried < helpers_.size(); ++tried) {
        const std::size_t index = next_;
        next_ = (next_ + 1) % helpers_.size();
        Helper& helper = helpers_[index];
        if (helper.reactor->own_requests() >= policy_.busy_at) {
            continue;
        }
        crypto::CipherStack* cipher = current_cipher(helper);
        if (cipher == nullptr) {
            continue;
        }
        if (helper.reactor->admit_guest(policy_.guest_limit)) {
            ++helper.out;
            return Hand{.reactor = helper.reactor,
                        .cipher = cipher,
                        .helper = index,
                        .generation = helper.generation};
        }
    }
    return {};
}

void HelpingHands::give_back(const Hand& hand) noexcept {
    Helper& helper = helpers_[hand.helper];
    --helper.out;
    hand.reactor->guest_left();
    drop_if_stale(helper);  // the keys may have changed while it was out
}

void HelpingHands::refresh() noexcept {
    for (Helper& helper : helpers_) {
        drop_if_stale(helper);
    }
}

void HelpingHands::drop_if_stale(Helper& helper) noexcept {
    if (helper.out == 0 && helper.generation != disk_.keys().generation()) {
        helper.cipher.reset();
    }
}

}  // namespace hostcrypt::daemon
