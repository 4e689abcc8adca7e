#include "storage/ring_backend.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "storage/backing_file.hpp"

namespace hostcrypt::storage {

namespace {

// The alignment O_DIRECT demands of offsets and lengths on this store, or 0
// if the kernel does not say.
std::uint32_t direct_io_alignment(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
        int logical_block = 0;
        if (::ioctl(fd, BLKSSZGET, &logical_block) == 0 && logical_block > 0) {
            return static_cast<std::uint32_t>(logical_block);
        }
        return 0;
    }
#ifdef STATX_DIOALIGN
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) != 0) {
        return stx.stx_dio_offset_align;
    }
#endif
    // Without STATX_DIOALIGN, file systems on 512-byte-sector devices need
    // 512; a larger requirement shows up as EINVAL on the first request.
    return 512;
}

}  // namespace

std::unique_ptr<FileBackend> FileBackend::open(const std::filesystem::path& path,
                                               const Options& options,
                                               std::string* direct_io_refused) {
    const int access = options.read_only ? O_RDONLY : O_RDWR;
    if (options.direct_io) {
        std::string refusal;
        try {
            UniqueFd fd = open_backing_file(path, access | O_DIRECT);
            const std::uint32_t alignment = direct_io_alignment(fd.get());
            if (alignment != 0 && options.io_unit % alignment == 0) {
                return std::unique_ptr<FileBackend>(
                    new FileBackend(std::move(fd), path.string(), true));
            }
            refusal = alignment == 0 ? "the store does not report its O_DIRECT alignment"
                                     : fmt::format(
                                           "the store needs {}-byte alignment, larger than the "
                                           "disk's {}-byte sectors",
                                           alignment, options.io_unit);
        } catch (const Error& error) {
            // Retried without O_DIRECT below: a store that cannot be opened
            // at all fails there with its own message.
            refusal = error.what();
        }
        if (direct_io_refused != nullptr) {
            *direct_io_refused = refusal;
        }
    }
    UniqueFd fd = open_backing_file(path, access);
    return std::unique_ptr<FileBackend>(new FileBackend(std::move(fd), path.string(), false));
}

std::uint64_t FileBackend::size() const {
    return backing_size(fd_.get(), name_);
}

void FileBackend::prepare_read(io_uring_sqe* sqe, std::span<std::byte> bytes,
                               std::uint64_t offset) const {
    io_uring_prep_read(sqe, fd_.get(), bytes.data(), static_cast<unsigned>(bytes.size()), offset);
}

void FileBackend::prepare_write(io_uring_sqe* sqe, std::span<const std::byte> bytes,
                                std::uint64_t offset) const {
    io_uring_prep_write(sqe, fd_.get(), bytes.data(), static_cast<unsigned>(bytes.size()), offset);
}

void FileBackend::prepare_flush(io_uring_sqe* sqe) const {
    io_uring_prep_fsync(sqe, fd_.get(), IORING_FSYNC_DATASYNC);
}

void FileBackend::prepare_discard(io_uring_sqe* sqe, std::uint64_t offset,
                                  std::uint64_t length) const {
    // On block devices the kernel turns this into a zeroing discard and
    // refuses it if reads would not return zeros.
    io_uring_prep_fallocate(sqe, fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            static_cast<off_t>(offset), static_cast<off_t>(length));
}

void FileBackend::prepare_prefetch(io_uring_sqe* sqe, std::uint64_t offset,
                                   std::uint32_t length) const {
    io_uring_prep_fadvise(sqe, fd_.get(), offset, static_cast<off_t>(length), POSIX_FADV_WILLNEED);
}

void FileBackend::flush_now() const {
    sync_file(fd_.get(), name_);
}

}  // namespace hostcrypt::storage
