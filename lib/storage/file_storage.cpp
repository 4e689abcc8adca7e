#include "storage/file_storage.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <liburing.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "storage/backing_file.hpp"

namespace hostcrypt::storage {

namespace fs = std::filesystem;

std::unique_ptr<FileStorage> FileStorage::open(const fs::path& path, Mode mode) {
    UniqueFd fd = open_backing_file(path, mode == Mode::read_only ? O_RDONLY : O_RDWR);
    return std::unique_ptr<FileStorage>(new FileStorage(std::move(fd), path.string()));
}

std::unique_ptr<FileStorage> FileStorage::create(const fs::path& path, std::uint64_t size) {
    UniqueFd fd = open_file(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        const int error_number = errno;
        ::unlink(path.c_str());
        throw Error(fmt::format("cannot size {} to {} bytes: {}", path.string(), size,
                                std::strerror(error_number)));
    }
    return std::unique_ptr<FileStorage>(new FileStorage(std::move(fd), path.string()));
}

std::uint64_t FileStorage::size() const {
    return backing_size(fd_.get(), name_);
}

std::size_t FileStorage::read_at(std::span<std::byte> bytes, std::uint64_t offset) {
    return read_at_most(fd_.get(), bytes, offset, name_);
}

void FileStorage::write_at(std::span<const std::byte> bytes, std::uint64_t offset) {
    write_all_at(fd_.get(), bytes, offset, name_);
}

void FileStorage::write_many(std::span<const Piece> pieces) {
    constexpr unsigned depth = 64;
    if (pieces.size() <= 1) {
        Storage::write_many(pieces);
        return;
    }
    io_uring ring{};
    if (const int result = io_uring_queue_init(depth, &ring, 0); result < 0) {
        Storage::write_many(pieces);  // no ring to be had: one at a time still works
        return;
    }
    // Freed however this ends; a piece in flight is waited for first.
    struct RingOwner {
        io_uring& ring;
        ~RingOwner() { io_uring_queue_exit(&ring); }
    } owner{ring};
    std::size_t next = 0;
    unsigned in_flight = 0;
    int failure = 0;
    std::vector<std::size_t> short_pieces;  // finished by write_at below
    while (next < pieces.size() || in_flight > 0) {
        while (failure == 0 && next < pieces.size() && in_flight < depth) {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            io_uring_prep_write(sqe, fd_.get(), pieces[next].bytes.data(),
                                static_cast<unsigned>(pieces[next].bytes.size()),
                                pieces[next].offset);
            io_uring_sqe_set_data64(sqe, next);
            ++next;
            ++in_flight;
        }
        if (in_flight == 0) {
            break;
        }
        io_uring_cqe* cqe = nullptr;
        const int waited = io_uring_submit_and_wait(&ring, 1);
        if (waited < 0 && waited != -EINTR) {
            failure = failure != 0 ? failure : -waited;
        }
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            const std::size_t index = io_uring_cqe_get_data64(cqe);
            if (cqe->res < 0) {
                failure = failure != 0 ? failure : -cqe->res;
            } else if (static_cast<std::size_t>(cqe->res) < pieces[index].bytes.size()) {
                short_pieces.push_back(index);
            }
            ++seen;
        }
        io_uring_cq_advance(&ring, seen);
        in_flight -= seen;
        if (waited < 0 && seen == 0 && waited != -EINTR) {
            break;  // the ring itself failed: nothing more will complete
        }
    }
    if (failure != 0) {
        throw Error(fmt::format("cannot write {}: {}", name_, std::strerror(failure)));
    }
    for (const std::size_t index : short_pieces) {
        write_at(pieces[index].bytes, pieces[index].offset);  // rare: rewrite it whole
    }
}

void FileStorage::sync() {
    sync_file(fd_.get(), name_);
}

}  // namespace hostcrypt::storage
