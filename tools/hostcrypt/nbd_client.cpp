#include "nbd_client.hpp"

#include <fmt/format.h>
#include <libnbd.h>

#include "common/error.hpp"

namespace hostcrypt::tools {

namespace {

std::string last_error() {
    const char* message = nbd_get_error();
    return message != nullptr ? message : "unknown libnbd error";
}

}  // namespace

void NbdClient::HandleCloser::operator()(nbd_handle* handle) const noexcept {
    nbd_close(handle);
}

NbdClient::NbdClient(const std::filesystem::path& socket, const std::string& export_name)
    : handle_(nbd_create()) {
    if (!handle_) {
        throw Error(fmt::format("libnbd: {}", last_error()));
    }
    if (nbd_set_export_name(handle_.get(), export_name.c_str()) == -1 ||
        nbd_connect_unix(handle_.get(), socket.c_str()) == -1) {
        throw Error(fmt::format("cannot open export {} on {}: {}", export_name, socket.string(),
                                last_error()));
    }
}

NbdClient::~NbdClient() {
    if (handle_) {
        nbd_shutdown(handle_.get(), 0);  // a polite NBD_CMD_DISC; closing follows anyway
    }
}

std::uint64_t NbdClient::size() const {
    const std::int64_t size = nbd_get_size(handle_.get());
    if (size < 0) {
        throw Error(fmt::format("libnbd: {}", last_error()));
    }
    return static_cast<std::uint64_t>(size);
}

std::optional<std::string> NbdClient::read(std::span<std::byte> into, std::uint64_t offset) {
    if (nbd_pread(handle_.get(), into.data(), into.size(), offset, 0) == -1) {
        return last_error();
    }
    return std::nullopt;
}

}  // namespace hostcrypt::tools
