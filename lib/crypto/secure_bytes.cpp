#include "crypto/secure_bytes.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>

#include <openssl/crypto.h>

#include "crypto/crypto_error.hpp"
#include "crypto/random.hpp"

namespace hostcrypt::crypto {

namespace {

[[noreturn]] void throw_system_error(const std::string& what, int error_number) {
    throw CryptoError(CryptoErrc::system,
                      "secure key memory: " + what + ": " + std::strerror(error_number));
}

// mlock by system call: AddressSanitizer replaces libc's mlock with a no-op
// that reports success, which would leave keys swappable in exactly the
// builds that run the test suite.
int lock_pages(void* address, std::size_t length) noexcept {
    return static_cast<int>(syscall(SYS_mlock, address, length));
}

std::size_t page_rounded(std::size_t size) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return (size + page - 1) / page * page;
}

}  // namespace

SecureBytes::SecureBytes(std::size_t size) {
    if (size == 0) {
        return;
    }
    const std::size_t mapping_size = page_rounded(size);
    void* mapping =
        mmap(nullptr, mapping_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) {
        throw_system_error("mmap", errno);
    }
    // Advice first, then the lock: a page must never hold a key while it could
    // still be dumped or swapped. On any failure nothing secret was written yet.
    const char* failed_step = nullptr;
    if (madvise(mapping, mapping_size, MADV_DONTDUMP) != 0) {
        failed_step = "madvise(MADV_DONTDUMP)";
    } else if (madvise(mapping, mapping_size, MADV_WIPEONFORK) != 0) {
        failed_step = "madvise(MADV_WIPEONFORK)";
    } else if (lock_pages(mapping, mapping_size) != 0) {
        failed_step = "mlock (raise RLIMIT_MEMLOCK, e.g. LimitMEMLOCK= in the unit)";
    }
    if (failed_step != nullptr) {
        const int error_number = errno;
        munmap(mapping, mapping_size);
        throw_system_error(failed_step, error_number);
    }
    data_ = static_cast<std::byte*>(mapping);
    size_ = size;
    mapping_size_ = mapping_size;
}

SecureBytes SecureBytes::random(std::size_t size) {
    SecureBytes bytes(size);
    fill_random(bytes.bytes());
    return bytes;
}

SecureBytes SecureBytes::copy_of(std::span<const std::byte> source) {
    SecureBytes bytes(source.size());
    if (!source.empty()) {
        std::memcpy(bytes.data_, source.data(), source.size());
    }
    return bytes;
}

SecureBytes::SecureBytes(SecureBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapping_size_(std::exchange(other.mapping_size_, 0)) {}

SecureBytes& SecureBytes::operator=(SecureBytes&& other) noexcept {
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        mapping_size_ = std::exchange(other.mapping_size_, 0);
    }
    return *this;
}

SecureBytes::~SecureBytes() {
    release();
}

void SecureBytes::truncate(std::size_t new_size) noexcept {
    if (new_size < size_) {
        OPENSSL_cleanse(data_ + new_size, size_ - new_size);
        size_ = new_size;
    }
}

bool SecureBytes::equals(std::span<const std::byte> other) const noexcept {
    if (other.size() != size_) {
        return false;
    }
    return size_ == 0 || CRYPTO_memcmp(data_, other.data(), size_) == 0;
}

void SecureBytes::release() noexcept {
    if (data_ == nullptr) {
        return;
    }
    // Cleanse the whole mapping: truncate() may have left a used tail behind
    // size_. Unmapping also drops the lock.
    OPENSSL_cleanse(data_, mapping_size_);
    munmap(data_, mapping_size_);
    data_ = nullptr;
    size_ = 0;
    mapping_size_ = 0;
}

}  // namespace hostcrypt::crypto
