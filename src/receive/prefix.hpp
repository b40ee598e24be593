// Address prefixes for the receiver: the 16-byte sortable form addresses are stored in (IPv4 as IPv4-mapped IPv6, so one BLOB range query covers either family), and the
// aggregation prefixes of key continuity (/24 for IPv4, /48 for IPv6).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"
#include "guard/cidr.hpp"

namespace overflowd::receive {

using Key16 = std::array<std::uint8_t, 16>;

// IPv4 a.b.c.d -> ::ffff:a.b.c.d; IPv6 as it is. The empty address gives all zeros.
[[nodiscard]] Key16 to_key16(const core::IpAddress& a) noexcept;

// Prefixes are the project's one CIDR type (guard/cidr.hpp): "my prefixes", --api-allow, the API's
// address filters.
using guard::Cidr;

// The inclusive range of a prefix in the 16-byte form (for a BLOB range query).
[[nodiscard]] Key16 low(const Cidr& c) noexcept;
[[nodiscard]] Key16 high(const Cidr& c) noexcept;

// The aggregation prefix of an address: its /24 (IPv4) or /48 (IPv6), as text "192.0.2.0/24".
[[nodiscard]] std::string aggregate_prefix(const core::IpAddress& a);

}  // namespace overflowd::receive
