// The addresses of this host's interfaces (getifaddrs), for the sampler's own-address skip: a
// report's own traffic must never be reported (reports would trigger reports).
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "core/ip_address.hpp"

namespace overflowd::io {

// Every IPv4 and IPv6 address on the host's interfaces (up or down), loopback included.
[[nodiscard]] std::expected<std::vector<core::IpAddress>, std::string> local_addresses();

}  // namespace overflowd::io
