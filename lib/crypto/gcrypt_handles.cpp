#include "crypto/gcrypt_handles.hpp"

#include <mutex>

namespace hostcrypt::crypto {

namespace {

void initialise_gcrypt() {
    if (gcry_check_version(GCRYPT_VERSION) == nullptr) {
        throw CryptoError(CryptoErrc::library,
                          std::string("libgcrypt ") + gcry_check_version(nullptr) +
                              " is older than the " GCRYPT_VERSION " hostcrypt was built with");
    }
    if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P) != 0) {
        return;  // someone else in the process set it up already
    }
    // Key schedules live in cipher handles on the ordinary heap, as in
    // OpenSSL's contexts (docs/architecture.md, "Secure key memory", known
    // gap); libgcrypt's own locked pool is fixed in size and would print
    // warnings on stderr.
    if (const gcry_error_t err = gcry_control(GCRYCTL_DISABLE_SECMEM, 0); err != 0) {
        throw_gcrypt_error(CryptoErrc::library, "cannot set libgcrypt up", err);
    }
    if (const gcry_error_t err = gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0); err != 0) {
        throw_gcrypt_error(CryptoErrc::library, "cannot set libgcrypt up", err);
    }
}

}  // namespace

[[noreturn]] void throw_gcrypt_error(CryptoErrc code, const std::string& what, gcry_error_t err) {
    throw CryptoError(code, what + ": " + gcry_strerror(err));
}

void ensure_gcrypt_ready() {
    static std::once_flag once;
    std::call_once(once, initialise_gcrypt);
}

GcryCipherHandle open_gcry_cipher(int algorithm, int mode) {
    ensure_gcrypt_ready();
    gcry_cipher_hd_t handle = nullptr;
    if (const gcry_error_t err = gcry_cipher_open(&handle, algorithm, mode, 0); err != 0) {
        throw_gcrypt_error(CryptoErrc::library, "cannot open a libgcrypt cipher", err);
    }
    return GcryCipherHandle(handle);
}

std::string gcrypt_description() {
    ensure_gcrypt_ready();
    std::string features;
    if (char* list = gcry_get_config(0, "hwflist"); list != nullptr) {
        // "hwflist:intel-aesni:intel-avx2:...:\n" -> "intel-aesni intel-avx2 ..."
        std::string raw(list);
        gcry_free(list);
        const std::string prefix = "hwflist:";
        if (raw.starts_with(prefix)) {
            raw.erase(0, prefix.size());
        }
        for (char c : raw) {
            if (c == ':') {
                if (!features.empty() && features.back() != ' ') {
                    features += ' ';
                }
            } else if (c != '\n') {
                features += c;
            }
        }
        while (!features.empty() && features.back() == ' ') {
            features.pop_back();
        }
    }
    return std::string("libgcrypt ") + gcry_check_version(nullptr) + " (" +
           (features.empty() ? "no CPU acceleration" : features) + ")";
}

}  // namespace hostcrypt::crypto
