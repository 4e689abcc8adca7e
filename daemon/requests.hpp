#pragma once

// What each NBD request does to an encrypted disk, as one coroutine per
// request on the connection's reactor (sectors in and out through
// daemon/plain_io.hpp, which encrypts, decrypts and uses the disk's host
// cache if it has one):
//
//   READ          read the covering sectors, reply with the bytes asked for
//   WRITE         whole sectors as they are; a partial sector is read,
//                 patched and written again under the disk's partial-write
//                 lock (read-modify-write)
//   FLUSH / FUA   a read-write host cache written back, then fdatasync
//                 through the ring
//   TRIM,
//   WRITE_ZEROES  whole sectors, around the host cache: punch a hole
//                 (stored zeros read as zeros, docs/format.md) or, with
//                 NO_HOLE, write encrypted zeros; partial sectors:
//                 read-modify-write with zeros
//   CACHE         a read-ahead hint to the backing store
//
// Failures are values (docs/errors.md): each becomes the reply's NBD error.

#include <cstddef>

#include "daemon/connection.hpp"
#include "io/buffer_pool.hpp"
#include "io/task.hpp"
#include "nbd/nbd_errno.hpp"
#include "nbd/request.hpp"

namespace hostcrypt::daemon {

// Serves `request` (whose payload, if any, is in `buffer` at the offset of
// its first byte within its first sector) unless `early_error` already
// decided the answer, replies, and tells the connection it is done.
io::DetachedTask serve_request(Connection& connection, nbd::Request request,
                               nbd::NbdErrno early_error, io::Buffer buffer,
                               std::size_t charged_bytes);

}  // namespace hostcrypt::daemon
