// Opening and sizing backing stores: regular files are accepted, everything
// that is neither a regular file nor a block device is refused with an error
// naming the path.

#include "storage/backing_file.hpp"

#include <chrono>
#include <fcntl.h>
#include <future>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "support/temp_dir.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt;
using Catch::Matchers::Equals;
using test::thrown;

namespace {

std::string refusal_of(const std::filesystem::path& path, int flags) {
    return thrown<Error>([&] { storage::open_backing_file(path, flags); }).what();
}

std::string neither(const std::filesystem::path& path) {
    return path.string() + " is neither a regular file nor a block device";
}

}  // namespace

TEST_CASE("a regular file opens read-write and read-only and reports its size",
          "[storage][backing_file]") {
    test::TempDir dir;
    const std::filesystem::path path = dir / "disk.img";
    {
        const UniqueFd fd = open_file(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        REQUIRE(::ftruncate(fd.get(), 3 * 1024 * 1024 + 512) == 0);  // sparse
    }
    const int access = GENERATE(O_RDWR, O_RDONLY);
    const UniqueFd fd = storage::open_backing_file(path, access);
    REQUIRE(fd);
    CHECK((::fcntl(fd.get(), F_GETFL) & O_ACCMODE) == access);
    CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) == FD_CLOEXEC);
    CHECK(storage::backing_size(fd.get(), path.string()) == 3 * 1024 * 1024 + 512);
}

TEST_CASE("an empty file has size zero", "[storage][backing_file]") {
    test::TempDir dir;
    const std::filesystem::path path = dir / "empty.img";
    open_file(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    const UniqueFd fd = storage::open_backing_file(path, O_RDONLY);
    CHECK(storage::backing_size(fd.get(), path.string()) == 0);
}

TEST_CASE("a missing backing file is refused naming the path", "[storage][backing_file][errors]") {
    test::TempDir dir;
    const std::filesystem::path path = dir / "missing.img";
    CHECK_THAT(refusal_of(path, O_RDWR),
               Equals("cannot open " + path.string() + ": No such file or directory"));
}

TEST_CASE("a directory is refused naming the path", "[storage][backing_file][errors]") {
    test::TempDir dir;
    // open(2) itself refuses a directory for writing...
    CHECK_THAT(refusal_of(dir.path(), O_RDWR),
               Equals("cannot open " + dir.path().string() + ": Is a directory"));
    // ...and the type check refuses it for reading.
    CHECK_THAT(refusal_of(dir.path(), O_RDONLY), Equals(neither(dir.path())));
}

TEST_CASE("a fifo opened read-write is refused naming the path",
          "[storage][backing_file][errors]") {
    test::TempDir dir;
    const std::filesystem::path fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THAT(refusal_of(fifo, O_RDWR), Equals(neither(fifo)));
}

TEST_CASE("a character device is refused naming the path", "[storage][backing_file][errors]") {
    CHECK_THAT(refusal_of("/dev/null", O_RDWR), Equals(neither("/dev/null")));
}

// open_backing_file opens before it checks the type, without O_NONBLOCK, and
// open(2) of a fifo for reading waits for a writer. FileStorage opens
// read-only this way, and ServedDisk::open reads every disk's header through
// it, so a catalog entry naming a fifo hangs instead of failing.
TEST_CASE("a fifo opened read-only is refused without waiting for a writer",
          "[storage][backing_file][errors]") {
    test::TempDir dir;
    const std::filesystem::path fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);

    std::promise<std::string> outcome;
    std::future<std::string> message = outcome.get_future();
    std::thread opener([&] {
        try {
            storage::open_backing_file(fifo, O_RDONLY);
            outcome.set_value("opened");
        } catch (const Error& error) {
            outcome.set_value(error.what());
        }
    });
    const bool answered =
        message.wait_for(std::chrono::milliseconds(300)) == std::future_status::ready;
    UniqueFd writer;
    if (!answered) {
        // Be the writer it waits for, so the opener returns and the test ends.
        writer.reset(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    }
    opener.join();
    CHECK(answered);
    CHECK_THAT(message.get(), Equals(neither(fifo)));
}
