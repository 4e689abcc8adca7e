#pragma once

// SecureBytes owns secret bytes (keys, unwrapped DEKs) for their whole life.
//
// The bytes live in their own anonymous mapping that is mlock'ed (never
// swapped), marked MADV_DONTDUMP (never in a core dump) and MADV_WIPEONFORK (a
// forked child sees zeroes), and are cleansed with OPENSSL_cleanse before the
// mapping is returned. The type cannot be copied, has no stream or fmt output,
// and compares in constant time.
//
// Thread safety: a SecureBytes that no one mutates may be read from any number
// of threads at once; moving, truncating or writing needs exclusive access.

#include <cstddef>
#include <span>

namespace hostcrypt::crypto {

class SecureBytes {
  public:
    SecureBytes() noexcept = default;
    // `size` zero bytes in locked memory; throws CryptoError(system) if the
    // kernel refuses the mapping, the lock (see RLIMIT_MEMLOCK) or the advice.
    explicit SecureBytes(std::size_t size);
    static SecureBytes random(std::size_t size);
    static SecureBytes copy_of(std::span<const std::byte> source);

    SecureBytes(SecureBytes&& other) noexcept;
    SecureBytes& operator=(SecureBytes&& other) noexcept;
    SecureBytes(const SecureBytes&) = delete;
    SecureBytes& operator=(const SecureBytes&) = delete;
    ~SecureBytes();

    std::span<std::byte> bytes() noexcept { return {data_, size_}; }
    std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    // Shrinks to the first `new_size` bytes and cleanses the rest; used when an
    // unwrap learns the plaintext length only after writing it.
    void truncate(std::size_t new_size) noexcept;

    // Constant-time equality, so comparing keys leaks nothing through timing.
    bool equals(std::span<const std::byte> other) const noexcept;

  private:
    void release() noexcept;

    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t mapping_size_ = 0;
};

}  // namespace hostcrypt::crypto
