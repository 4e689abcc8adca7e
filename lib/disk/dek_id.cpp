#include "disk/dek_id.hpp"

#include <string_view>

#include "common/hex.hpp"
#include "crypto/digest.hpp"

namespace hostcrypt::disk {

std::string dek_id(const crypto::SecureBytes& dek) {
    constexpr std::string_view label = "hostcrypt dek id v1";
    const crypto::Sha256Digest digest =
        crypto::sha256({std::as_bytes(std::span(label.data(), label.size())), dek.bytes()});
    return to_hex(std::span(digest).first(8));
}

}  // namespace hostcrypt::disk
