// Test-only oracle: exposes lib/crypto on the command line so that
// crypto_crosscheck.py can compare it with python3-cryptography. It prints
// unwrapped keys in hex, which is why it lives in tests/ and is never installed.
//
//   crypto_oracle xts-encrypt|xts-decrypt SECTOR_SIZE FIRST_SECTOR KEY_HEX [KEY_HEX]
//       stdin -> stdout, raw bytes; two keys make a double (inner, outer) stack
//   crypto_oracle kwp-wrap|kwp-unwrap KEK_HEX DATA_HEX             -> hex
//   crypto_oracle gcm-seal|gcm-open KEY_HEX DATA_HEX AAD_HEX       -> hex
//   crypto_oracle rsa-generate BITS                                -> private DER hex
//   crypto_oracle rsa-wrap|rsa-unwrap PRIVATE_DER_HEX DATA_HEX     -> hex

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/hex.hpp"
#include "crypto/aes_gcm.hpp"
#include "crypto/cipher_stack.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/rsa_oaep.hpp"

namespace {

using namespace hostcrypt;
using namespace hostcrypt::crypto;

int run_xts(bool encrypt, const std::vector<std::string_view>& args) {
    if (args.size() < 3 || args.size() > 4) {
        std::cerr << "usage: xts-encrypt|xts-decrypt SECTOR_SIZE FIRST_SECTOR KEY [KEY]\n";
        return 2;
    }
    const auto sector_size = static_cast<std::uint32_t>(std::stoul(std::string(args[0])));
    const std::uint64_t first_sector = std::stoull(std::string(args[1]));
    std::vector<SectorCipher> layers;
    for (std::size_t i = 2; i < args.size(); ++i) {
        layers.emplace_back(from_hex(args[i]), sector_size);
    }
    CipherStack stack(std::move(layers));
    std::vector<char> data{std::istreambuf_iterator<char>(std::cin), {}};
    const std::span<std::byte> bytes(reinterpret_cast<std::byte*>(data.data()), data.size());
    encrypt ? stack.encrypt(bytes, first_sector) : stack.decrypt(bytes, first_sector);
    std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
    return 0;
}

int print_hex(std::span<const std::byte> bytes) {
    std::cout << to_hex(bytes) << '\n';
    return 0;
}

int run(const std::string_view command, const std::vector<std::string_view>& args) {
    if (command == "xts-encrypt" || command == "xts-decrypt") {
        return run_xts(command == "xts-encrypt", args);
    }
    if (command == "rsa-generate" && args.size() == 1) {
        const auto bits = static_cast<unsigned>(std::stoul(std::string(args[0])));
        return print_hex(RsaKeyPair::generate(bits).private_der().bytes());
    }
    if (args.size() < 2) {
        std::cerr << "unknown command or missing arguments\n";
        return 2;
    }
    const auto key = from_hex(args[0]);
    const auto data = from_hex(args[1]);
    const auto aad = args.size() > 2 ? from_hex(args[2]) : std::vector<std::byte>{};
    if (command == "kwp-wrap") {
        return print_hex(aes_kwp_wrap(key, data));
    }
    if (command == "kwp-unwrap") {
        return print_hex(aes_kwp_unwrap(key, data).bytes());
    }
    if (command == "gcm-seal") {
        return print_hex(aes_gcm_seal(key, data, aad));
    }
    if (command == "gcm-open") {
        return print_hex(aes_gcm_open(key, data, aad).bytes());
    }
    if (command == "rsa-wrap") {
        return print_hex(RsaKeyPair::from_private_der(key).wrap(data));
    }
    if (command == "rsa-unwrap") {
        return print_hex(RsaKeyPair::from_private_der(key).unwrap(data).bytes());
    }
    std::cerr << "unknown command " << command << '\n';
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: crypto_oracle COMMAND ARGS...\n";
        return 2;
    }
    std::vector<std::string_view> args(argv + 2, argv + argc);
    try {
        return run(argv[1], args);
    } catch (const std::exception& error) {
        std::cerr << "crypto_oracle: " << error.what() << '\n';
        return 1;
    }
}
