#pragma once

// The coroutine types of the data path. Their frames come from the thread's
// FramePool. They must not throw: the data path reports failure as values
// (docs/errors.md), so an exception escaping one is a bug and ends the
// process rather than leaving a request unanswered forever.
//
// DetachedTask starts at once and frees itself when it ends: everything a
// reactor runs concurrently (a connection, each NBD request).
// Task<T> is a step of one of those, started by co_await and resumed into its
// caller when it returns a T.

#include <coroutine>
#include <cstddef>
#include <optional>
#include <utility>

#include "io/frame_pool.hpp"

namespace hostcrypt::io {

[[noreturn]] void terminate_on_escaped_exception() noexcept;

struct DetachedTask {
    struct promise_type {
        DetachedTask get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { terminate_on_escaped_exception(); }

        static void* operator new(std::size_t size) { return FramePool::allocate(size); }
        static void operator delete(void* frame, std::size_t size) noexcept {
            FramePool::release(frame, size);
        }
    };
};

template <typename T>
class [[nodiscard]] Task {
  public:
    struct promise_type {
        std::optional<T> value;
        std::coroutine_handle<> caller;

        Task get_return_object() noexcept {
            return Task(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        auto final_suspend() noexcept {
            struct ReturnToCaller {
                bool await_ready() const noexcept { return false; }
                std::coroutine_handle<> await_suspend(
                    std::coroutine_handle<promise_type> self) noexcept {
                    return self.promise().caller;
                }
                void await_resume() const noexcept {}
            };
            return ReturnToCaller{};
        }
        void return_value(T result) noexcept { value.emplace(std::move(result)); }
        void unhandled_exception() noexcept { terminate_on_escaped_exception(); }

        static void* operator new(std::size_t size) { return FramePool::allocate(size); }
        static void operator delete(void* frame, std::size_t size) noexcept {
            FramePool::release(frame, size);
        }
    };

    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    Task& operator=(Task&&) = delete;
    ~Task() {
        if (handle_) {
            handle_.destroy();
        }
    }

    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
        handle_.promise().caller = caller;
        return handle_;
    }
    T await_resume() noexcept { return std::move(*handle_.promise().value); }

  private:
    explicit Task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
    std::coroutine_handle<promise_type> handle_;
};

}  // namespace hostcrypt::io
