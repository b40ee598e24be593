// Address prefixes (CIDR blocks) and sets of them: pure functions, no sockets, no allocation on
// lookup. An IPv4 prefix matches IPv4 addresses only and an IPv6 prefix IPv6 addresses only; an
// IPv4-mapped IPv6 address (::ffff:a.b.c.d) is an IPv6 address here, as it is on the wire.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/ip_address.hpp"

namespace overflowd::guard {

struct Cidr {
  core::IpAddress network;  // host bits are zero
  std::uint8_t length = 0;  // 0..32 for IPv4, 0..128 for IPv6

  // "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Host bits set below the
  // prefix ("10.0.0.1/8") are an error rather than silently masked: they usually mean a typo.
  [[nodiscard]] static std::expected<Cidr, std::string> parse(std::string_view text);
  // The block of `length` bits holding `address` (host bits cleared); length is clamped.
  [[nodiscard]] static Cidr of(const core::IpAddress& address, std::uint8_t length) noexcept;

  [[nodiscard]] bool contains(const core::IpAddress& address) const noexcept;
  // The first and last address of the block.
  [[nodiscard]] core::IpAddress first() const noexcept { return network; }
  [[nodiscard]] core::IpAddress last() const noexcept;
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// `address` with every bit past the first `length` cleared.
[[nodiscard]] core::IpAddress mask(const core::IpAddress& address, std::uint8_t length) noexcept;

// A set of prefixes with a lookup that costs one hash probe per distinct prefix length present
// (at most 33 + 129), whatever the number of prefixes: opt-out lists may be long.
class CidrSet {
public:
  void add(const Cidr& cidr);
  [[nodiscard]] bool contains(const core::IpAddress& address) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

private:
  struct Key {
    core::IpAddress network;
    std::uint8_t length;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  std::unordered_set<Key, KeyHash> prefixes_;
  std::vector<std::uint8_t> v4_lengths_, v6_lengths_;  // distinct lengths present, longest first
  std::size_t size_ = 0;
};

// Reads a list of prefixes, one per line; blank lines and '#' comments are skipped. An error names
// the line.
[[nodiscard]] std::expected<CidrSet, std::string> parse_cidr_list(std::string_view text, std::string_view origin);

}  // namespace overflowd::guard
