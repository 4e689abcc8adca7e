#pragma once

// Synchronous access to a backing store (a file or a block device) for work
// that is not on the data path: creating disks, reading and writing headers,
// rotation, checks. The data path uses io_uring (lib/io) instead.
//
// Thread safety: one user at a time.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hostcrypt::storage {

class Storage {
  public:
    virtual ~Storage() = default;

    virtual const std::string& name() const = 0;  // for messages: the path
    virtual std::uint64_t size() const = 0;
    // Reads up to bytes.size() at `offset`; returns the count (short only at
    // the end). Throws hostcrypt::Error on I/O errors.
    virtual std::size_t read_at(std::span<std::byte> bytes, std::uint64_t offset) = 0;
    virtual void write_at(std::span<const std::byte> bytes, std::uint64_t offset) = 0;
    struct Piece {
        std::span<const std::byte> bytes;
        std::uint64_t offset = 0;
    };
    // Writes every piece; a store that can keeps many in flight at once
    // (a slow or remote store is bound by latency, not bandwidth). Throws
    // hostcrypt::Error on the first failure.
    virtual void write_many(std::span<const Piece> pieces) {
        for (const Piece& piece : pieces) {
            write_at(piece.bytes, piece.offset);
        }
    }
    // Makes every completed write durable.
    virtual void sync() = 0;
};

}  // namespace hostcrypt::storage
