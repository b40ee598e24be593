// Address prefixes for the receiver: "my prefixes" (CIDR), the 16-byte sortable form addresses are
// stored in (IPv4 as IPv4-mapped IPv6, so one BLOB range query covers either family), and the
// aggregation prefixes of key continuity (/24 for IPv4, /48 for IPv6).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"

namespace overflowd::receive {

using Key16 = std::array<std::uint8_t, 16>;

// IPv4 a.b.c.d -> ::ffff:a.b.c.d; IPv6 as it is. The empty address gives all zeros.
[[nodiscard]] Key16 to_key16(const core::IpAddress& a) noexcept;

struct Cidr {
  core::IpAddress base;  // host bits cleared
  std::uint8_t length = 0;

  // "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128). Host bits set in the text
  // are an error (a typo like 192.0.2.1/24 is refused rather than silently widened).
  [[nodiscard]] static std::optional<Cidr> parse(std::string_view text);
  [[nodiscard]] bool contains(const core::IpAddress& a) const noexcept;
  // The inclusive range of the prefix in the 16-byte form.
  [[nodiscard]] Key16 low() const noexcept;
  [[nodiscard]] Key16 high() const noexcept;
  [[nodiscard]] std::string to_string() const;
};

// The aggregation prefix of an address: its /24 (IPv4) or /48 (IPv6), as text "192.0.2.0/24".
[[nodiscard]] std::string aggregate_prefix(const core::IpAddress& a);

}  // namespace overflowd::receive
