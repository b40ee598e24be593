#include "receive/prefix.hpp"

#include <charconv>

namespace overflowd::receive {

Key16 to_key16(const core::IpAddress& a) noexcept {
  Key16 k{};
  if (a.is_v4()) {
    k[10] = 0xff;
    k[11] = 0xff;
    for (std::size_t i = 0; i < 4; ++i) k[12 + i] = a.bytes()[i];
  } else if (a.is_v6()) {
    k = a.bytes();
  }
  return k;
}

namespace {

// Bits of the 16-byte form that the prefix fixes: the IPv4-mapped part adds 96.
unsigned key_bits(const Cidr& c) noexcept { return c.network.is_v4() ? 96u + c.length : c.length; }

Key16 mask_key(Key16 k, unsigned bits, bool fill_ones) noexcept {
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned lo = i * 8;
    if (lo >= bits) {
      k[i] = fill_ones ? 0xff : 0x00;
    } else if (bits < lo + 8) {
      const auto keep = static_cast<std::uint8_t>(0xff << (8 - (bits - lo)));
      k[i] = static_cast<std::uint8_t>(fill_ones ? (k[i] | static_cast<std::uint8_t>(~keep)) : (k[i] & keep));
    }
  }
  return k;
}

}  // namespace

Key16 low(const Cidr& c) noexcept { return mask_key(to_key16(c.network), key_bits(c), false); }
Key16 high(const Cidr& c) noexcept { return mask_key(to_key16(c.network), key_bits(c), true); }

std::string aggregate_prefix(const core::IpAddress& a) {
  if (a.empty()) return {};
  std::array<std::byte, 16> b{};
  for (std::size_t i = 0; i < a.size(); ++i) b[i] = std::byte{a.bytes()[i]};
  if (a.is_v4()) {
    b[3] = std::byte{0};
    return core::IpAddress::from_bytes(std::span(b.data(), 4)).to_string() + "/24";
  }
  for (std::size_t i = 6; i < 16; ++i) b[i] = std::byte{0};
  return core::IpAddress::from_bytes(std::span(b.data(), 16)).to_string() + "/48";
}

}  // namespace overflowd::receive
