// FileBackend: the data path's entries for a file-backed store, run through a
// real io_uring; opening read-write, read-only and with O_DIRECT; refusals.

#include "storage/ring_backend.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "storage/test_ring.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using storage::FileBackend;
using storage::test::probe_direct_io;
using storage::test::TestRing;

namespace {

constexpr std::size_t file_size = 64 * 1024;

std::vector<std::byte> pattern(std::size_t size, unsigned seed) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<std::byte>((i * 13 + seed * 29 + i / 4096) % 251 + 1);
    }
    return bytes;
}

bool all_zero(std::span<const std::byte> bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// A 64 KiB file of pattern(…, 1) in a fresh directory.
class BackingFile {
  public:
    BackingFile() { write_file_atomically(path(), content, 0600); }
    std::filesystem::path path() const { return dir_ / "disk.img"; }
    const std::vector<std::byte> content = pattern(file_size, 1);

  private:
    test::TempDir dir_;
};

std::unique_ptr<FileBackend> open_backend(const std::filesystem::path& path, bool read_only) {
    FileBackend::Options options;
    options.read_only = read_only;
    return FileBackend::open(path, options);
}

std::string refusal_of(const std::filesystem::path& path, const FileBackend::Options& options) {
    return test::thrown<Error>([&] { FileBackend::open(path, options); }).what();
}

std::string neither(const std::filesystem::path& path) {
    return path.string() + " is neither a regular file nor a block device";
}

// A backend opened with O_DIRECT asked for, and what the kernel says of it.
struct DirectOpen {
    storage::test::DirectIoProbe probe;
    std::string refused;
    std::unique_ptr<FileBackend> backend;
};

DirectOpen open_direct(const std::filesystem::path& path, std::uint32_t io_unit) {
    DirectOpen opened{probe_direct_io(path.string()), {}, nullptr};
    FileBackend::Options options;
    options.direct_io = true;
    options.io_unit = io_unit;
    opened.backend = FileBackend::open(path, options, &opened.refused);
    return opened;
}

// A page-aligned buffer, as O_DIRECT needs.
struct AlignedBuffer {
    explicit AlignedBuffer(std::size_t size)
        : data(static_cast<std::byte*>(std::aligned_alloc(4096, size))), bytes(data, size) {}
    ~AlignedBuffer() { std::free(data); }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    std::byte* data;
    std::span<std::byte> bytes;
};

}  // namespace

TEST_CASE("a file backend opens read-write and reports its name and size",
          "[storage][ring_backend]") {
    BackingFile file;
    const auto backend = open_backend(file.path(), false);
    CHECK(backend->name() == file.path().string());
    CHECK(backend->size() == file_size);
    CHECK_FALSE(backend->direct_io());

    // The size is the store's, not a copy taken at opening.
    std::filesystem::resize_file(file.path(), 2 * file_size);
    CHECK(backend->size() == 2 * file_size);
}

TEST_CASE("writes and reads and flushes go through the ring", "[storage][ring_backend]") {
    BackingFile file;
    const auto backend = open_backend(file.path(), false);
    TestRing ring;
    const std::vector<std::byte> data = pattern(8192, 2);

    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_write(sqe, data, 4096); }) == 8192);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_flush(sqe); }) == 0);

    std::vector<std::byte> read(12288);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_read(sqe, read, 0); }) == 12288);
    CHECK(std::equal(read.begin(), read.begin() + 4096, file.content.begin()));
    CHECK(std::equal(read.begin() + 4096, read.end(), data.begin()));

    // The file itself holds what was written, and kept its size.
    const std::vector<std::byte> stored = read_file(file.path());
    REQUIRE(stored.size() == file_size);
    CHECK(std::equal(data.begin(), data.end(), stored.begin() + 4096));
    CHECK(std::equal(stored.begin() + 12288, stored.end(), file.content.begin() + 12288));
}

TEST_CASE("a read past the end of the store is short", "[storage][ring_backend]") {
    BackingFile file;
    const auto backend = open_backend(file.path(), true);
    TestRing ring;
    std::vector<std::byte> read(8192);
    CHECK(ring.run([&](io_uring_sqe* sqe) {
        backend->prepare_read(sqe, read, file_size - 4096);
    }) == 4096);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_read(sqe, read, file_size); }) == 0);
}

TEST_CASE("a read-only backend reads and refuses writes and discards with -EBADF",
          "[storage][ring_backend][errors]") {
    BackingFile file;
    const auto backend = open_backend(file.path(), true);
    TestRing ring;
    std::vector<std::byte> read(4096);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_read(sqe, read, 8192); }) == 4096);
    CHECK(std::equal(read.begin(), read.end(), file.content.begin() + 8192));

    const std::vector<std::byte> data = pattern(4096, 3);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_write(sqe, data, 0); }) == -EBADF);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_discard(sqe, 0, 4096); }) == -EBADF);
    CHECK(read_file(file.path()) == file.content);
}

TEST_CASE("a discarded range reads back as zero bytes and the size stays",
          "[storage][ring_backend]") {
    BackingFile file;
    const auto backend = open_backend(file.path(), false);
    TestRing ring;
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_discard(sqe, 4096, 8192); }) == 0);
    CHECK(backend->size() == file_size);

    std::vector<std::byte> read(16384);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_read(sqe, read, 0); }) == 16384);
    const std::span<const std::byte> bytes(read);
    CHECK(std::equal(read.begin(), read.begin() + 4096, file.content.begin()));
    CHECK(all_zero(bytes.subspan(4096, 8192)));
    CHECK(std::equal(read.begin() + 12288, read.end(), file.content.begin() + 12288));
}

TEST_CASE("a prefetch hint completes with 0", "[storage][ring_backend]") {
    BackingFile file;
    const auto backend = open_backend(file.path(), true);
    TestRing ring;
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_prefetch(sqe, 0, 32768); }) == 0);
}

TEST_CASE("flush_now syncs outside any ring", "[storage][ring_backend]") {
    BackingFile file;
    const bool read_only = GENERATE(false, true);
    const auto backend = open_backend(file.path(), read_only);
    CHECK_NOTHROW(backend->flush_now());
}

TEST_CASE("a file backend refuses what is not a regular file or block device and names the path",
          "[storage][ring_backend][errors]") {
    test::TempDir dir;
    FileBackend::Options options;

    SECTION("a missing file") {
        const std::filesystem::path path = dir / "missing.img";
        CHECK_THAT(refusal_of(path, options),
                   Equals("cannot open " + path.string() + ": No such file or directory"));
    }
    SECTION("a directory, read-write") {
        CHECK_THAT(refusal_of(dir.path(), options),
                   Equals("cannot open " + dir.path().string() + ": Is a directory"));
    }
    SECTION("a directory, read-only") {
        options.read_only = true;
        CHECK_THAT(refusal_of(dir.path(), options), Equals(neither(dir.path())));
    }
    SECTION("a fifo, read-write") {
        const std::filesystem::path fifo = dir / "fifo";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        CHECK_THAT(refusal_of(fifo, options), Equals(neither(fifo)));
    }
    SECTION("a fifo, read-write, with O_DIRECT asked for") {
        const std::filesystem::path fifo = dir / "fifo";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        options.direct_io = true;
        std::string refused;
        const Error error =
            test::thrown<Error>([&] { FileBackend::open(fifo, options, &refused); });
        CHECK_THAT(error.what(), Equals(neither(fifo)));
        CHECK_FALSE(refused.empty());
    }
}

TEST_CASE("O_DIRECT is used where the store accepts the disk's sector size",
          "[storage][ring_backend]") {
    BackingFile file;
    const auto [probe, refused, backend] = open_direct(file.path(), 4096);
    if (!probe.opens) {
        INFO("this file system refuses O_DIRECT");
        CHECK_FALSE(backend->direct_io());
        CHECK_THAT(refused, StartsWith("cannot open " + file.path().string() + ": "));
        return;
    }
    INFO("O_DIRECT alignment " << probe.assumed_alignment());
    REQUIRE(probe.accepts(4096));
    CHECK(backend->direct_io());
    CHECK(refused.empty());

    // Aligned I/O goes through the ring and bypasses nothing it should not.
    TestRing ring;
    AlignedBuffer buffer(8192);
    REQUIRE(buffer.data != nullptr);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_read(sqe, buffer.bytes, 8192); }) ==
          8192);
    CHECK(std::equal(buffer.bytes.begin(), buffer.bytes.end(), file.content.begin() + 8192));
}

TEST_CASE("O_DIRECT falls back to the page cache with a reason when the sector is too small",
          "[storage][ring_backend]") {
    BackingFile file;
    // 256 bytes is below any alignment a kernel reports.
    const auto [probe, refused, backend] = open_direct(file.path(), 256);

    CHECK_FALSE(backend->direct_io());
    if (!probe.opens) {
        CHECK_THAT(refused, StartsWith("cannot open " + file.path().string() + ": "));
    } else if (probe.reported_alignment == 0u) {
        CHECK_THAT(refused, Equals("the store does not report its O_DIRECT alignment"));
    } else {
        CHECK_THAT(refused, Equals(fmt::format("the store needs {}-byte alignment, larger than "
                                               "the disk's 256-byte sectors",
                                               probe.assumed_alignment())));
    }

    // The fallback works: an unaligned read of an odd length succeeds.
    TestRing ring;
    std::vector<std::byte> read(1000);
    CHECK(ring.run([&](io_uring_sqe* sqe) { backend->prepare_read(sqe, read, 100); }) == 1000);
    CHECK(std::equal(read.begin(), read.end(), file.content.begin() + 100));
}
