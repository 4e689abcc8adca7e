// Transmission flags, the spec's rules for exports, and the names of codes.

#include "nbd/exports.hpp"

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "nbd/nbd_errno.hpp"
#include "nbd/nbd_error.hpp"
#include "nbd/nbd_wire.hpp"
#include "support/thrown.hpp"

using namespace hostcrypt::nbd;
using namespace hostcrypt::nbd::test;
using hostcrypt::test::thrown;

TEST_CASE("a writable export advertises flush FUA trim zeroes cache and multi-conn", "[exports]") {
    CHECK(transmission_flags(sample_export()) == 0x0d6d);
    CHECK(transmission_flags(sample_export(), true) == 0x0ded);
}

TEST_CASE("a read-only export says so and does not invite trim or zeroes", "[exports]") {
    CHECK(transmission_flags(sample_export("ro", true)) == 0x050f);
    CHECK(transmission_flags(sample_export("ro", true), true) == 0x058f);
}

TEST_CASE("exports that obey the spec's block-size rules are accepted", "[exports]") {
    ExportInfo info = sample_export();
    CHECK_NOTHROW(validate_export(info));
    info.minimum_block = 512;
    info.preferred_block = 512;
    CHECK_NOTHROW(validate_export(info));
    // The maximum may be below the preferred size when the export is smaller.
    info.size = 1024;
    info.preferred_block = 4096;
    info.maximum_block = 1024;
    CHECK_NOTHROW(validate_export(info));
    info.size = 0;
    info.maximum_block = 512;
    CHECK_NOTHROW(validate_export(info));
    info.minimum_block = 1;
    info.maximum_block = 0xfffffff7;
    CHECK_NOTHROW(validate_export(info));
    info.name = std::string(4096, 'n');
    info.description = std::string(4096, 'd');
    CHECK_NOTHROW(validate_export(info));
}

TEST_CASE("exports that break the spec's rules are refused", "[exports][errors]") {
    struct Case {
        void (*change)(ExportInfo&);
        std::string message;
    };
    const Case c = GENERATE(
        Case{[](ExportInfo& i) { i.minimum_block = 0; },
             "NBD export 'db': minimum block size 0 is not a power of two from 1 to 65536"},
        Case{[](ExportInfo& i) { i.minimum_block = 3072; },
             "NBD export 'db': minimum block size 3072 is not a power of two from 1 to 65536"},
        Case{[](ExportInfo& i) { i.minimum_block = i.preferred_block = 1u << 17; },
             "NBD export 'db': minimum block size 131072 is not a power of two from 1 to 65536"},
        Case{[](ExportInfo& i) { i.preferred_block = 6144; },
             "NBD export 'db': preferred block size 6144 is not a power of two of at least 4096"},
        Case{[](ExportInfo& i) { i.preferred_block = 2048; },
             "NBD export 'db': preferred block size 2048 is not a power of two of at least 4096"},
        Case{[](ExportInfo& i) { i.minimum_block = 1, i.preferred_block = 256; },
             "NBD export 'db': preferred block size 256 is not a power of two of at least 512"},
        Case{[](ExportInfo& i) { i.maximum_block = 0xffffffff; },
             "NBD export 'db': maximum block size 4294967295 is above 4294967287, the largest "
             "read one reply chunk can carry"},
        Case{[](ExportInfo& i) { i.maximum_block = 6000; },
             "NBD export 'db': maximum block size 6000 is not a multiple of the minimum 4096 of "
             "at least min(preferred 4096, size 1073741824)"},
        Case{[](ExportInfo& i) { i.preferred_block = 8192, i.maximum_block = 4096; },
             "NBD export 'db': maximum block size 4096 is not a multiple of the minimum 4096 of "
             "at least min(preferred 8192, size 1073741824)"},
        Case{[](ExportInfo& i) { i.size = (1ull << 30) + 512; },
             "NBD export 'db': size 1073742336 is not a whole number of 4096-byte minimum blocks"},
        Case{[](ExportInfo& i) { i.name = std::string(4097, 'n'); },
             "NBD export name of 4097 bytes is longer than the spec's 4096"},
        Case{[](ExportInfo& i) { i.description = std::string(5000, 'd'); },
             "NBD export description of 5000 bytes is longer than the spec's 4096"},
        Case{[](ExportInfo& i) { i.name = std::string("d\0b", 3); },
             "NBD export 'd': its name contains a NUL byte, which the spec forbids in strings"},
        Case{[](ExportInfo& i) { i.description = std::string("a\0b", 3); },
             "NBD export 'db': its description contains a NUL byte, which the spec forbids in "
             "strings"});
    ExportInfo info = sample_export("db");
    c.change(info);
    const auto error = thrown<NbdError>([&] { validate_export(info); });
    CHECK(error.code() == NbdErrc::invalid_export);
    CHECK(std::string(error.what()) == c.message);
}

TEST_CASE("NBD error values have the spec's names", "[exports]") {
    CHECK(std::string(to_string(NbdErrno::none)) == "none");
    CHECK(std::string(to_string(NbdErrno::eperm)) == "EPERM");
    CHECK(std::string(to_string(NbdErrno::eio)) == "EIO");
    CHECK(std::string(to_string(NbdErrno::enomem)) == "ENOMEM");
    CHECK(std::string(to_string(NbdErrno::einval)) == "EINVAL");
    CHECK(std::string(to_string(NbdErrno::enospc)) == "ENOSPC");
    CHECK(std::string(to_string(NbdErrno::eoverflow)) == "EOVERFLOW");
    CHECK(std::string(to_string(NbdErrno::enotsup)) == "ENOTSUP");
    CHECK(std::string(to_string(NbdErrno::eshutdown)) == "ESHUTDOWN");
    CHECK(std::string(to_string(static_cast<NbdErrno>(2))) == "unknown");
    // The values are the spec's, not the host's errno numbers.
    CHECK(static_cast<std::uint32_t>(NbdErrno::enotsup) == 95);
    CHECK(static_cast<std::uint32_t>(NbdErrno::eshutdown) == 108);
    CHECK(static_cast<std::uint32_t>(NbdErrno::eoverflow) == 75);
}

TEST_CASE("NbdError codes have names", "[exports]") {
    CHECK(std::string(to_string(NbdErrc::invalid_argument)) == "invalid-argument");
    CHECK(std::string(to_string(NbdErrc::invalid_export)) == "invalid-export");
}
