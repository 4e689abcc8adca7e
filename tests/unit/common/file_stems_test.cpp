// file_stems: the records of a directory store (<name>.json), by name.

#include <filesystem>

#include <catch2/catch.hpp>

#include "common/files.hpp"
#include "support/temp_dir.hpp"

using namespace hostcrypt;
namespace fs = std::filesystem;

TEST_CASE("file stems are the sorted names of the files with the extension", "[files]") {
    hostcrypt::test::TempDir temp;
    for (const char* name : {"b.json", "a.json", "c.txt", "d.json.tmp"}) {
        write_text_file_atomically(temp / name, "{}", 0600);
    }
    fs::create_directory(temp / "dir.json");  // not a file
    CHECK(file_stems(temp.path(), ".json") == std::vector<std::string>{"a", "b"});
    CHECK(file_stems(temp.path(), ".txt") == std::vector<std::string>{"c"});
    CHECK(file_stems(temp / "missing", ".json").empty());
}
