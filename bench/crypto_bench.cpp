// Measures lib/crypto's sector cipher against `openssl speed -evp aes-256-xts`
// in one run: MB/s for 512- and 4096-byte sectors, one and two layers, one
// thread and every core, encrypting and decrypting in place sector by sector
// (a new tweak per sector, exactly as the data path does). Prints a Markdown
// table; bench/run-crypto-bench.sh puts it into bench/README.md.
//
// This machine's throughput drifts by several percent between seconds, so
// each figure is the median of --trials runs, and openssl and hostcrypt runs
// are interleaved so that drift hits both sides alike.
//
//   crypto_bench [--seconds S] [--trials N] [--threads N] [--run-bytes B] [--openssl PATH]
//   crypto_bench --engine     (prints the library that runs the sector cipher)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "crypto/cipher_stack.hpp"
#include "crypto/gcrypt_handles.hpp"
#include "crypto/random.hpp"
#include "crypto/secure_bytes.hpp"

namespace {

using namespace hostcrypt::crypto;
using Clock = std::chrono::steady_clock;

struct Options {
    double seconds = 1.0;
    unsigned trials = 5;
    unsigned threads = std::thread::hardware_concurrency();
    // One call's run of sectors: a typical large NBD request, resident in L2.
    std::size_t run_bytes = 64 * 1024;
    std::string openssl = "openssl";
};

struct Case {
    std::uint32_t sector_size;
    std::size_t layers;
    unsigned threads;
};

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

double bytes_per_second(const Case& c, bool encrypt, const Options& options,
                        const std::vector<SecureBytes>& keys) {
    std::atomic<bool> stop{false};
    std::atomic<unsigned> ready{0};
    std::vector<std::uint64_t> processed(c.threads, 0);
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < c.threads; ++t) {
        workers.emplace_back([&, t] {
            std::vector<SectorCipher> ciphers;
            for (std::size_t layer = 0; layer < c.layers; ++layer) {
                ciphers.emplace_back(keys[layer].bytes(), c.sector_size);
            }
            CipherStack stack(std::move(ciphers));
            std::vector<std::byte> buffer(options.run_bytes);
            fill_random(buffer);
            const std::uint64_t sectors_per_call = options.run_bytes / c.sector_size;
            std::uint64_t sector = 0;
            ready.fetch_add(1);
            while (ready.load() < c.threads) {
                std::this_thread::yield();
            }
            std::uint64_t bytes = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                encrypt ? stack.encrypt(buffer, sector) : stack.decrypt(buffer, sector);
                sector += sectors_per_call;
                bytes += options.run_bytes;
            }
            processed[t] = bytes;
        });
    }
    while (ready.load() < c.threads) {
        std::this_thread::yield();
    }
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
    stop.store(true);
    for (auto& worker : workers) {
        worker.join();
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::uint64_t total = 0;
    for (const std::uint64_t bytes : processed) {
        total += bytes;
    }
    return static_cast<double>(total) / elapsed;
}

// `openssl speed -mr` ends with "+F:<n>:AES-256-XTS:<bytes per second>".
double openssl_bytes_per_second(const Options& options, std::uint32_t block, unsigned threads) {
    const std::string command =
        fmt::format("{} speed -mr {} -evp aes-256-xts -bytes {} -seconds {} 2>/dev/null",
                    options.openssl, threads > 1 ? fmt::format("-multi {}", threads) : "", block,
                    std::max(1, static_cast<int>(options.seconds + 0.5)));
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    if (!pipe) {
        throw std::runtime_error("cannot run: " + command);
    }
    double result = 0;
    char line[512];
    while (std::fgets(line, sizeof line, pipe.get()) != nullptr) {
        const std::string text(line);
        const auto pos = text.rfind(":AES-256-XTS:");
        if (text.rfind("+F:", 0) == 0 && pos != std::string::npos) {
            result = std::stod(text.substr(pos + 13));  // with -multi the last line is the sum
        }
    }
    if (result <= 0) {
        throw std::runtime_error("no result from: " + command);
    }
    return result;
}

struct Row {
    Case c;
    std::vector<double> encrypt;
    std::vector<double> decrypt;
};

void print_row(const Row& row, double reference) {
    const Case& c = row.c;
    const double enc = median(row.encrypt);
    const double dec = median(row.decrypt);
    const double ratio = enc / reference;
    std::string target = "—";
    if (c.sector_size == 4096) {
        const double bar = c.layers == 1 ? 0.95 : 0.47;
        target = fmt::format("≥ {:.0f}%: {}", bar * 100, ratio >= bar ? "met" : "MISSED");
    }
    std::cout << fmt::format(
        "| {} | {} | {} | {:.0f} | {:.0f} | {:.0f} | {:.0f} | {:.1f}% | {} |\n", c.sector_size,
        c.layers, c.threads, enc / 1e6, dec / 1e6, enc / 1e6 / c.threads, reference / 1e6,
        ratio * 100, target);
}

void run(const Options& options) {
    std::vector<SecureBytes> keys;
    keys.push_back(SecureBytes::random(xts_key_size));
    keys.push_back(SecureBytes::random(xts_key_size));

    std::cout << "| sector | layers | threads | encrypt MB/s | decrypt MB/s | "
                 "encrypt MB/s per core | openssl speed MB/s | encrypt / openssl | target |\n"
              << "|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
    std::vector<unsigned> thread_counts{1};
    if (options.threads > 1) {
        thread_counts.push_back(options.threads);
    }
    for (const std::uint32_t sector_size : {512u, 4096u}) {
        for (const unsigned threads : thread_counts) {
            std::vector<Row> rows{{{sector_size, 1, threads}, {}, {}},
                                  {{sector_size, 2, threads}, {}, {}}};
            std::vector<double> reference;
            for (unsigned trial = 0; trial < options.trials; ++trial) {
                reference.push_back(openssl_bytes_per_second(options, sector_size, threads));
                for (Row& row : rows) {
                    row.encrypt.push_back(bytes_per_second(row.c, true, options, keys));
                    row.decrypt.push_back(bytes_per_second(row.c, false, options, keys));
                }
            }
            for (const Row& row : rows) {
                print_row(row, median(reference));
            }
        }
    }
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) {
            throw std::runtime_error("missing value for " + arg);
        }
        const std::string value = argv[++i];
        if (arg == "--seconds") {
            options.seconds = std::stod(value);
        } else if (arg == "--trials") {
            options.trials = static_cast<unsigned>(std::stoul(value));
        } else if (arg == "--threads") {
            options.threads = static_cast<unsigned>(std::stoul(value));
        } else if (arg == "--run-bytes") {
            options.run_bytes = std::stoul(value);
        } else if (arg == "--openssl") {
            options.openssl = value;
        } else {
            throw std::runtime_error("unknown option " + arg);
        }
    }
    if (options.threads == 0 || options.seconds <= 0 || options.trials == 0 ||
        options.run_bytes == 0 || options.run_bytes % 4096 != 0) {
        throw std::runtime_error(
            "--threads, --seconds and --trials must be positive, --run-bytes a multiple of 4096");
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 2 && std::string(argv[1]) == "--engine") {
            std::cout << gcrypt_description() << '\n';
            return 0;
        }
        run(parse(argc, argv));
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "crypto_bench: " << error.what() << '\n';
        return 1;
    }
}
