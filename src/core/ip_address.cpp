#include "core/ip_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace overflowd::core {

IpAddress IpAddress::from_bytes(std::span<const std::byte> b) noexcept {
  IpAddress a;
  if (b.size() == 4) {
    a.family_ = Family::v4;
  } else if (b.size() == 16) {
    a.family_ = Family::v6;
  } else {
    return a;
  }
  std::memcpy(a.bytes_.data(), b.data(), b.size());
  return a;
}

IpAddress IpAddress::unmapped() const noexcept {
  if (family_ != Family::v6) return *this;
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes_.data(), prefix, 12) != 0) return *this;
  IpAddress a;
  a.family_ = Family::v4;
  std::memcpy(a.bytes_.data(), bytes_.data() + 12, 4);
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton reads a C string: a NUL inside the view would end the text early.
  if (text.size() >= kMaxText || text.find('\0') != std::string_view::npos) return std::nullopt;
  char buf[kMaxText + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (::inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::v4;
    return a;
  }
  if (::inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::v6;
    return a;
  }
  return std::nullopt;
}

namespace {
char* put_u8(char* p, std::uint8_t v) noexcept {
  if (v >= 100) {
    *p++ = static_cast<char>('0' + v / 100);
    v = static_cast<std::uint8_t>(v % 100);
    *p++ = static_cast<char>('0' + v / 10);
    *p++ = static_cast<char>('0' + v % 10);
  } else if (v >= 10) {
    *p++ = static_cast<char>('0' + v / 10);
    *p++ = static_cast<char>('0' + v % 10);
  } else {
    *p++ = static_cast<char>('0' + v);
  }
  return p;
}
}  // namespace

std::size_t IpAddress::format(char* out) const noexcept {
  char* p = out;
  if (family_ == Family::v4) {
    for (int i = 0; i < 4; ++i) {
      if (i) *p++ = '.';
      p = put_u8(p, bytes_[static_cast<std::size_t>(i)]);
    }
    return static_cast<std::size_t>(p - out);
  }
  if (family_ != Family::v6) return 0;
  std::uint16_t g[8];
  for (std::size_t i = 0; i < 8; ++i) g[i] = static_cast<std::uint16_t>((bytes_[2 * i] << 8) | bytes_[2 * i + 1]);
  // RFC 5952 section 5: IPv4-mapped addresses keep the dotted quad.
  if (g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xffff) {
    std::memcpy(p, "::ffff:", 7);
    p += 7;
    for (std::size_t i = 12; i < 16; ++i) {
      if (i > 12) *p++ = '.';
      p = put_u8(p, bytes_[i]);
    }
    return static_cast<std::size_t>(p - out);
  }
  // Longest run of zero groups, at least two long; the first one on ties (RFC 5952 4.2).
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best = -1;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      *p++ = ':';
      *p++ = ':';
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) *p++ = ':';
    p = std::to_chars(p, p + 4, g[i], 16).ptr;
  }
  return static_cast<std::size_t>(p - out);
}

std::string IpAddress::to_string() const {
  char buf[kMaxText];
  return std::string(buf, format(buf));
}

}  // namespace overflowd::core
