#include "guard/cidr.hpp"
#include "core/parse.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace overflowd::guard {

namespace {
constexpr std::uint8_t max_length(const core::IpAddress& a) noexcept { return a.is_v4() ? 32 : a.is_v6() ? 128 : 0; }

core::IpAddress with_bytes(const core::IpAddress& like, const std::array<std::uint8_t, 16>& bytes) noexcept {
  const std::size_t n = like.size();
  return core::IpAddress::from_bytes(std::as_bytes(std::span(bytes.data(), n)));
}
}  // namespace

core::IpAddress mask(const core::IpAddress& address, std::uint8_t length) noexcept {
  if (address.empty()) return address;
  auto bytes = address.bytes();
  const std::size_t n = address.size();
  for (std::size_t i = 0; i < n; ++i) {
    const int keep = static_cast<int>(length) - static_cast<int>(8 * i);
    if (keep >= 8) continue;
    if (keep <= 0) {
      bytes[i] = 0;
    } else {
      bytes[i] = static_cast<std::uint8_t>(bytes[i] & static_cast<std::uint8_t>(0xff00u >> keep));
    }
  }
  return with_bytes(address, bytes);
}

Cidr Cidr::of(const core::IpAddress& address, std::uint8_t length) noexcept {
  const std::uint8_t len = std::min(length, max_length(address));
  return Cidr{mask(address, len), len};
}

std::expected<Cidr, std::string> Cidr::parse(std::string_view text) {
  const std::string_view original = text;
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  const auto slash = text.find('/');
  const auto address = core::IpAddress::parse(text.substr(0, slash));
  if (!address) return std::unexpected("'" + std::string(original) + "' is not an address prefix (want e.g. 192.0.2.0/24 or 2001:db8::/32)");
  std::uint8_t length = max_length(*address);
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto v = digits.size() > 3 ? std::nullopt : core::parse_whole<unsigned>(digits, 0, length);
    if (!v) return std::unexpected("'" + std::string(original) + "': the prefix length must be 0 to " + std::to_string(length));
    length = static_cast<std::uint8_t>(*v);
  }
  const Cidr c = of(*address, length);
  if (c.network != *address)
    return std::unexpected("'" + std::string(original) + "' has bits set past its prefix length (did you mean " + c.to_string() + "?)");
  return c;
}

bool Cidr::contains(const core::IpAddress& address) const noexcept {
  if (address.family() != network.family() || network.empty()) return false;
  const auto& a = address.bytes();
  const auto& n = network.bytes();
  const std::size_t whole = length / 8;
  if (std::memcmp(a.data(), n.data(), whole) != 0) return false;
  const unsigned rest = length % 8;
  if (rest == 0) return true;
  const auto m = static_cast<std::uint8_t>(0xff00u >> rest);
  return (a[whole] & m) == n[whole];
}

core::IpAddress Cidr::last() const noexcept {
  auto bytes = network.bytes();
  const std::size_t n = network.size();
  for (std::size_t i = 0; i < n; ++i) {
    const int keep = static_cast<int>(length) - static_cast<int>(8 * i);
    if (keep >= 8) continue;
    if (keep <= 0) {
      bytes[i] = 0xff;
    } else {
      bytes[i] = static_cast<std::uint8_t>(bytes[i] | (0xffu >> keep));
    }
  }
  return with_bytes(network, bytes);
}

std::string Cidr::to_string() const { return network.to_string() + "/" + std::to_string(length); }

std::size_t CidrSet::KeyHash::operator()(const Key& k) const noexcept {
  // FNV-1a over the bytes and the length: the keys are operator-supplied, not attacker-chosen.
  std::uint64_t h = 1469598103934665603ULL;
  for (std::uint8_t b : k.network.bytes()) h = (h ^ b) * 1099511628211ULL;
  h = (h ^ k.length) * 1099511628211ULL;
  h = (h ^ static_cast<std::uint8_t>(k.network.family())) * 1099511628211ULL;
  return static_cast<std::size_t>(h);
}

void CidrSet::add(const Cidr& cidr) {
  if (cidr.network.empty()) return;
  if (!prefixes_.insert(Key{cidr.network, cidr.length}).second) return;
  ++size_;
  auto& lengths = cidr.network.is_v4() ? v4_lengths_ : v6_lengths_;
  if (std::find(lengths.begin(), lengths.end(), cidr.length) == lengths.end()) {
    lengths.push_back(cidr.length);
    std::sort(lengths.begin(), lengths.end(), std::greater<>());
  }
}

bool CidrSet::contains(const core::IpAddress& address) const noexcept {
  if (address.empty() || size_ == 0) return false;
  const auto& lengths = address.is_v4() ? v4_lengths_ : v6_lengths_;
  for (std::uint8_t len : lengths)
    if (prefixes_.contains(Key{mask(address, len), len})) return true;
  return false;
}

std::expected<CidrSet, std::string> parse_cidr_list(std::string_view text, std::string_view origin) {
  CidrSet set;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto c = Cidr::parse(line);
    if (!c) return std::unexpected(std::string(origin) + ":" + std::to_string(line_no) + ": " + c.error());
    set.add(*c);
  }
  return set;
}

}  // namespace overflowd::guard
