#pragma once

// hostcryptd's log: one line per event on stderr, which systemd's journal
// collects. Each line is written with a single write(2), so lines from
// different reactors never interleave. Callers pass names (disks, keys,
// peers) and never key material.

#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace hostcrypt::daemon {

void log_line(std::string_view message);

template <typename... Args>
void log(fmt::format_string<Args...> format, Args&&... args) {
    log_line(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace hostcrypt::daemon
