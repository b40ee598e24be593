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
unsigned key_bits(const Cidr& c) noexcept { return c.base.is_v4() ? 96u + c.length : c.length; }

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

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr = core::IpAddress::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  const unsigned max = addr->is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || r.ec != std::errc{} || r.ptr != digits.data() + digits.size() || len > max)
      return std::nullopt;
  }
  Cidr c;
  c.base = *addr;
  c.length = static_cast<std::uint8_t>(len);
  // Host bits must be zero.
  const Key16 k = to_key16(*addr);
  if (mask_key(k, key_bits(c), false) != k) return std::nullopt;
  return c;
}

bool Cidr::contains(const core::IpAddress& a) const noexcept {
  if (a.family() != base.family()) return false;
  return mask_key(to_key16(a), key_bits(*this), false) == to_key16(base);
}

Key16 Cidr::low() const noexcept { return mask_key(to_key16(base), key_bits(*this), false); }
Key16 Cidr::high() const noexcept { return mask_key(to_key16(base), key_bits(*this), true); }

std::string Cidr::to_string() const { return base.to_string() + "/" + std::to_string(length); }

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
