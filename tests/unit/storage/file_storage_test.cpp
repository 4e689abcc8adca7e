// FileStorage::write_many: many pieces in flight at once land exactly where
// they were meant to, and a failure is reported.

#include "storage/file_storage.hpp"

#include <catch2/catch.hpp>

#include "common/error.hpp"
#include "support/temp_dir.hpp"

using namespace hostcrypt;
using hostcrypt::test::TempDir;

TEST_CASE("write_many puts every piece at its offset", "[storage][file_storage]") {
    TempDir temp;
    auto storage = storage::FileStorage::create(temp.path() / "f", 1 << 20);
    // More pieces than the ring holds at once, out of order, of two sizes.
    std::vector<std::vector<std::byte>> data;
    std::vector<storage::Storage::Piece> pieces;
    for (std::size_t i = 0; i < 150; ++i) {
        const std::size_t size = i % 3 == 0 ? 512 : 4096;
        data.emplace_back(size, static_cast<std::byte>(i + 1));
    }
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::uint64_t slot = (i * 37) % 150;  // a permutation of 0..149
        pieces.push_back({data[i], slot * 4096});
    }
    storage->write_many(pieces);
    for (const storage::Storage::Piece& piece : pieces) {
        std::vector<std::byte> back(piece.bytes.size());
        REQUIRE(storage->read_at(back, piece.offset) == back.size());
        CHECK(std::equal(back.begin(), back.end(), piece.bytes.begin()));
    }
}

TEST_CASE("write_many reports a failed write", "[storage][file_storage][errors]") {
    TempDir temp;
    storage::FileStorage::create(temp.path() / "f", 1 << 16);
    auto read_only =
        storage::FileStorage::open(temp.path() / "f", storage::FileStorage::Mode::read_only);
    const std::vector<std::byte> bytes(4096, std::byte{7});
    const std::vector<storage::Storage::Piece> pieces{{bytes, 0}, {bytes, 8192}};
    CHECK_THROWS_AS(read_only->write_many(pieces), Error);
}
