#pragma once

// How the data path reaches a backing store: every operation becomes one
// io_uring entry, prepared here and submitted by the reactor that owns the
// ring (lib/io). A backend is shared by every reactor serving its disk and is
// immutable after opening, so preparing entries needs no lock.
//
// The interface is the seam for other stores: a remote backend (NBD through
// libnbd, Ceph RBD) prepares entries on its own sockets or event fds and keeps
// this contract — offsets are backing-store offsets, results are byte counts
// or -errno.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include <liburing.h>

#include "common/unique_fd.hpp"

namespace hostcrypt::storage {

class RingBackend {
  public:
    virtual ~RingBackend() = default;

    virtual const std::string& name() const = 0;  // for log lines: the path
    virtual std::uint64_t size() const = 0;
    virtual bool direct_io() const = 0;

    virtual void prepare_read(io_uring_sqe* sqe, std::span<std::byte> bytes,
                              std::uint64_t offset) const = 0;
    virtual void prepare_write(io_uring_sqe* sqe, std::span<const std::byte> bytes,
                               std::uint64_t offset) const = 0;
    // Durable: every write completed before it is on stable storage.
    virtual void prepare_flush(io_uring_sqe* sqe) const = 0;
    // The range then reads back as zero bytes and may be deallocated. Fails
    // with -EOPNOTSUPP where the store cannot do that; callers write zeros.
    virtual void prepare_discard(io_uring_sqe* sqe, std::uint64_t offset,
                                 std::uint64_t length) const = 0;
    // A hint that the range will be read soon.
    virtual void prepare_prefetch(io_uring_sqe* sqe, std::uint64_t offset,
                                  std::uint32_t length) const = 0;
    // Synchronous flush for shutdown, outside any ring. Throws hostcrypt::Error.
    virtual void flush_now() const = 0;
};

// A regular file or a block device.
class FileBackend final : public RingBackend {
  public:
    struct Options {
        bool read_only = false;
        bool direct_io = false;  // O_DIRECT: bypass the page cache
        // The smallest I/O the data path will issue (the disk's crypto
        // sector); O_DIRECT is only used if the store accepts that unit.
        std::uint32_t io_unit = 4096;
    };

    // Throws hostcrypt::Error naming the path if it cannot be opened.
    // `direct_io_refused` receives why O_DIRECT was not used, if it was asked
    // for and the store does not support it with `io_unit` (the backend then
    // uses the page cache; the caller logs the reason).
    static std::unique_ptr<FileBackend> open(const std::filesystem::path& path,
                                             const Options& options,
                                             std::string* direct_io_refused = nullptr);

    const std::string& name() const override { return name_; }
    std::uint64_t size() const override;
    bool direct_io() const override { return direct_io_; }

    void prepare_read(io_uring_sqe* sqe, std::span<std::byte> bytes,
                      std::uint64_t offset) const override;
    void prepare_write(io_uring_sqe* sqe, std::span<const std::byte> bytes,
                       std::uint64_t offset) const override;
    void prepare_flush(io_uring_sqe* sqe) const override;
    void prepare_discard(io_uring_sqe* sqe, std::uint64_t offset,
                         std::uint64_t length) const override;
    void prepare_prefetch(io_uring_sqe* sqe, std::uint64_t offset,
                          std::uint32_t length) const override;
    void flush_now() const override;

  private:
    FileBackend(UniqueFd fd, std::string name, bool direct_io)
        : fd_(std::move(fd)), name_(std::move(name)), direct_io_(direct_io) {}

    UniqueFd fd_;
    std::string name_;
    bool direct_io_;
};

}  // namespace hostcrypt::storage
