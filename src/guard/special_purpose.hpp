// The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and their later updates),
// plus IPv4 multicast (224.0.0.0/4, RFC 5771), IPv6 multicast (ff00::/8, RFC 4291) and the IPv6
// space IANA has not opened for global unicast (everything outside 2000::/3, RFC 4291 / the IANA
// IPv6 Address Space registry: "Reserved by IETF"). Reports are never sent to an address in any of
// them unless the operator's allow-list names it: they are private, loopback, link-local,
// documentation, benchmarking, anycast service or reserved addresses, none of which is the
// endpoint of a real flow on the Internet.
//
// The registries' entries as known in 2025, through RFC 9602 (5f00::/16), RFC 9637 (3fff::/20),
// RFC 9665 (2001:1::3) and RFC 9780 (100:0:0:1::/64); re-check them against IANA's pages when
// updating. Every entry is listed, nested blocks included (192.0.0.0/24 and its /29 and /32s, 2001::/23 and its
// sub-blocks), so that a lookup names the most specific one.
#pragma once

#include <span>
#include <string_view>

#include "core/ip_address.hpp"
#include "guard/cidr.hpp"

namespace overflowd::guard {

struct SpecialRange {
  Cidr cidr;
  std::string_view name;       // the registry's name for the block
  std::string_view reference;  // the RFC that set it aside
};

// Every block, IPv4 first, in registry order.
[[nodiscard]] std::span<const SpecialRange> special_purpose_ranges();

// The most specific block holding `address`, or nullptr for an address that may be reported to.
// An empty address counts as special (there is nowhere to send it).
[[nodiscard]] const SpecialRange* special_purpose(const core::IpAddress& address) noexcept;

[[nodiscard]] inline bool is_special_purpose(const core::IpAddress& address) noexcept {
  return special_purpose(address) != nullptr;
}

}  // namespace overflowd::guard
