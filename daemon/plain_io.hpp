#pragma once

// Plaintext sectors of a connection's disk in and out of storage: encrypted
// and decrypted here, and through the disk's host cache when it has one
// (disk/host_cache.hpp):
//
//   read   cached sectors come from the cache file (decrypted with the
//          cache's keys), the others from the disk; those then fill the
//          cache if there is room without writing anything back.
//   write  read-only cache: to the disk, then the sectors are forgotten in
//          the cache. Read-write cache: to free cache slots, dirty, waiting
//          for the write-back to free some if there are none; a write of
//          more than a quarter of the cache goes around it to the disk.
//   flush  a read-write cache's dirty sectors written back, then fdatasync.
//
// Results are NBD errors (docs/errors.md); storage failures are logged
// with the store's name.

#include <cstdint>
#include <span>

#include "daemon/connection.hpp"
#include "io/task.hpp"
#include "nbd/nbd_errno.hpp"

namespace hostcrypt::daemon {

// Reads and decrypts whole sectors [first, first + sectors.size() / sector size).
io::Task<nbd::NbdErrno> read_sectors(Connection& connection, std::span<std::byte> sectors,
                                     std::uint64_t first);
// Encrypts (in place: `sectors` is ciphertext afterwards) and writes whole sectors.
io::Task<nbd::NbdErrno> write_sectors(Connection& connection, std::span<std::byte> sectors,
                                      std::uint64_t first);
// The same straight to the disk, for callers that went around the cache.
io::Task<nbd::NbdErrno> write_disk_sectors(Connection& connection, std::span<std::byte> sectors,
                                           std::uint64_t first);
// Makes every write answered so far durable on the disk.
io::Task<nbd::NbdErrno> make_durable(Connection& connection);
// Before sectors [first, end) change on the disk around the cache (zeros,
// trims): the cache forgets them, and a write-back in flight ends first.
io::Task<nbd::NbdErrno> go_around_cache(Connection& connection, std::uint64_t first,
                                        std::uint64_t end);

// Logs a failed store operation; the NBD error for it.
nbd::NbdErrno storage_failure(Connection& connection, const char* what, int negative_errno);

}  // namespace hostcrypt::daemon
