// An IpAddress and port as a socket address, for sendto and bind (IPv4 or IPv6 by the address).
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "core/ip_address.hpp"

namespace overflowd::io {

// Fills `ss` (zeroed first) and returns the length to pass with it.
socklen_t to_sockaddr(const core::IpAddress& a, std::uint16_t port, sockaddr_storage& ss) noexcept;

}  // namespace overflowd::io
