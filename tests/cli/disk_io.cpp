// Test-only: reads or writes a catalogued disk through lib/disk, so the CLI
// tests can check that data survives what the CLI does to keys and headers.
//
//   disk_io STATE_DIR write DISK OFFSET   < data
//   disk_io STATE_DIR read  DISK OFFSET LENGTH  > data

#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "disk/disk.hpp"
#include "disk/disk_catalog.hpp"
#include "storage/file_storage.hpp"

int main(int argc, char** argv) {
    using namespace hostcrypt;
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 4 || (args[1] == "read" && args.size() != 5)) {
        std::cerr << "usage: disk_io STATE_DIR write|read DISK OFFSET [LENGTH]\n";
        return 2;
    }
    try {
        keys::KeyProviders providers(args[0], "disk_io (test)");
        const disk::CatalogEntry entry = disk::DiskCatalog(args[0] + "/disks").get(args[2]);
        const auto mode = args[1] == "write" ? storage::FileStorage::Mode::read_write
                                             : storage::FileStorage::Mode::read_only;
        disk::Disk disk =
            disk::Disk::open(storage::FileStorage::open(entry.path, mode), entry.name, providers);
        const std::uint64_t offset = std::stoull(args[3]);
        if (args[1] == "write") {
            const std::vector<char> data{std::istreambuf_iterator<char>(std::cin), {}};
            disk.write(offset, std::as_bytes(std::span(data)));
            disk.flush();
        } else {
            std::vector<std::byte> data(std::stoull(args[4]));
            disk.read(offset, data);
            std::cout.write(reinterpret_cast<const char*>(data.data()),
                            static_cast<std::streamsize>(data.size()));
        }
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "disk_io: " << error.what() << '\n';
        return 1;
    }
}
