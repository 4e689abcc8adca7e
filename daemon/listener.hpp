#pragma once

// Listening sockets for the addresses of the config: unix sockets (mode 0660,
// a stale socket file from a crashed run replaced, a live one refused) and
// TCP (IPv4 or IPv6, on exactly the address given).

#include "common/unique_fd.hpp"
#include "daemon/config.hpp"

namespace hostcrypt::daemon {

struct Listener {
    ListenAddress address;
    UniqueFd socket;
};

// Throws hostcrypt::Error naming the address and what to do.
Listener open_listener(const ListenAddress& address);

// Removes a unix socket's file (at shutdown); nothing for TCP.
void remove_socket_file(const Listener& listener) noexcept;

}  // namespace hostcrypt::daemon
