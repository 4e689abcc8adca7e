#pragma once

// A coroutine on its way from one reactor's thread to another's. The node
// lives in the coroutine's own frame (see io/resume_on.hpp), so handing a
// coroutine over allocates nothing and takes no lock: the receiving reactor
// keeps a lock-free list of them (HandoffInbox).

#include <atomic>
#include <coroutine>

namespace hostcrypt::io {

struct Handoff {
    std::coroutine_handle<> handle;
    Handoff* next = nullptr;
};

// Many threads push, one thread (the owner) takes everything at once, so the
// list needs no more than one atomic pointer, and taking all at once leaves
// no room for the ABA problem of a lock-free pop.
class HandoffInbox {
  public:
    // Any thread.
    void push(Handoff& handoff) noexcept {
        Handoff* head = head_.load(std::memory_order_relaxed);
        do {
            handoff.next = head;
        } while (!head_.compare_exchange_weak(head, &handoff, std::memory_order_seq_cst,
                                              std::memory_order_relaxed));
    }

    // Owner thread: everything pushed so far, oldest first.
    Handoff* take_all() noexcept {
        Handoff* newest_first = head_.exchange(nullptr, std::memory_order_acquire);
        Handoff* oldest_first = nullptr;
        while (newest_first != nullptr) {
            Handoff* next = newest_first->next;
            newest_first->next = oldest_first;
            oldest_first = newest_first;
            newest_first = next;
        }
        return oldest_first;
    }

    bool empty() const noexcept { return head_.load(std::memory_order_seq_cst) == nullptr; }

  private:
    std::atomic<Handoff*> head_{nullptr};
};

}  // namespace hostcrypt::io
