// An IPv4 or IPv6 address as 16 bytes plus a family, cheap to copy and compare.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace overflowd::core {

class IpAddress {
public:
  enum class Family : std::uint8_t { none = 0, v4 = 4, v6 = 6 };

  constexpr IpAddress() noexcept = default;

  // From a host-order IPv4 address (as read by ByteReader::u32).
  [[nodiscard]] static constexpr IpAddress v4(std::uint32_t host_order) noexcept {
    IpAddress a;
    a.family_ = Family::v4;
    if consteval {
      a.bytes_[0] = static_cast<std::uint8_t>(host_order >> 24);
      a.bytes_[1] = static_cast<std::uint8_t>(host_order >> 16);
      a.bytes_[2] = static_cast<std::uint8_t>(host_order >> 8);
      a.bytes_[3] = static_cast<std::uint8_t>(host_order);
    } else {
      // One 4-byte store; after a big-endian read the two byte swaps cancel out.
      const std::uint32_t net = std::endian::native == std::endian::little ? std::byteswap(host_order) : host_order;
      std::memcpy(a.bytes_.data(), &net, sizeof net);
    }
    return a;
  }
  // Becomes the IPv4 address of 4 network-order bytes, written in place: a decoder that builds one
  // aside and copies it stalls on the copy's load of the partial stores just made.
  void assign_v4(const std::byte* network_order) noexcept {
    std::uint64_t low = 0;
    std::memcpy(&low, network_order, 4);  // the 4 bytes first in memory on any byte order
    if constexpr (std::endian::native == std::endian::big) low <<= 32;
    const std::uint64_t high = 0;
    std::memcpy(bytes_.data(), &low, sizeof low);
    std::memcpy(bytes_.data() + 8, &high, sizeof high);
    family_ = Family::v4;
  }
  // From 4 or 16 network-order bytes; anything else gives an empty address.
  [[nodiscard]] static IpAddress from_bytes(std::span<const std::byte> b) noexcept;
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4; others are kept.
  [[nodiscard]] IpAddress unmapped() const noexcept;

  // Parses dotted quad or RFC 4291 text; nullopt when it is neither.
  [[nodiscard]] static std::optional<IpAddress> parse(std::string_view text);

  [[nodiscard]] constexpr Family family() const noexcept { return family_; }
  [[nodiscard]] constexpr bool is_v4() const noexcept { return family_ == Family::v4; }
  [[nodiscard]] constexpr bool is_v6() const noexcept { return family_ == Family::v6; }
  [[nodiscard]] constexpr bool empty() const noexcept { return family_ == Family::none; }
  [[nodiscard]] constexpr const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept {
    return family_ == Family::v4 ? 4 : family_ == Family::v6 ? 16 : 0;
  }
  [[nodiscard]] constexpr std::uint32_t v4_host_order() const noexcept {
    return (std::uint32_t{bytes_[0]} << 24) | (std::uint32_t{bytes_[1]} << 16) |
           (std::uint32_t{bytes_[2]} << 8) | std::uint32_t{bytes_[3]};
  }

  // Text form: dotted quad, or RFC 5952 for IPv6 (lower case, longest run of two or more zero
  // groups compressed, the first of equal runs). Writes at most kMaxText chars, returns the count.
  static constexpr std::size_t kMaxText = 46;
  std::size_t format(char* out) const noexcept;
  [[nodiscard]] std::string to_string() const;

  friend constexpr auto operator<=>(const IpAddress&, const IpAddress&) noexcept = default;

private:
  std::array<std::uint8_t, 16> bytes_{};
  Family family_ = Family::none;
};

}  // namespace overflowd::core
