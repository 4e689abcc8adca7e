#pragma once

// A blocking NBD client over a unix socket (libnbd), for commands that do
// I/O on a served disk: the revocation drill. Failed I/O is an expected
// outcome there, so reads report it as a value.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

struct nbd_handle;

namespace hostcrypt::tools {

class NbdClient {
  public:
    // Connects and negotiates `export_name`; throws hostcrypt::Error with
    // libnbd's message.
    NbdClient(const std::filesystem::path& socket, const std::string& export_name);
    ~NbdClient();
    NbdClient(const NbdClient&) = delete;
    NbdClient& operator=(const NbdClient&) = delete;

    std::uint64_t size() const;
    // Nullopt on success, else the error as libnbd reports it.
    std::optional<std::string> read(std::span<std::byte> into, std::uint64_t offset);

  private:
    struct HandleCloser {
        void operator()(nbd_handle* handle) const noexcept;
    };
    std::unique_ptr<nbd_handle, HandleCloser> handle_;
};

}  // namespace hostcrypt::tools
