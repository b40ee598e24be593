#include "discovery/names.hpp"

#include <algorithm>
#include <string_view>

#include "core/parse.hpp"

namespace overflowd::discovery {

guard::Cidr zone_prefix(const core::IpAddress& address) noexcept {
  return guard::Cidr::of(address, address.is_v4() ? 24 : 48);
}

std::string txt_name(const core::IpAddress& address) {
  std::string name = "_overflowd";
  const auto& b = address.bytes();
  if (address.is_v4()) {
    for (int i = 2; i >= 0; --i) name += "." + std::to_string(b[static_cast<std::size_t>(i)]);
    return name + ".in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 5; i >= 0; --i) {
    const unsigned v = b[static_cast<std::size_t>(i)];
    name += '.';
    name += kHex[v & 0xf];
    name += '.';
    name += kHex[v >> 4];
  }
  return name + ".ip6.arpa";
}

const char* to_string(UrlErrc e) noexcept {
  switch (e) {
    case UrlErrc::empty: return "empty";
    case UrlErrc::too_long: return "too_long";
    case UrlErrc::bad_character: return "bad_character";
    case UrlErrc::bad_scheme: return "bad_scheme";
    case UrlErrc::bad_host: return "bad_host";
    case UrlErrc::bad_port: return "bad_port";
    case UrlErrc::bad_path: return "bad_path";
  }
  return "unknown";
}

namespace {

bool dns_name(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-') return false;
  std::size_t label = 0;
  for (char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label > 63) return false;
  }
  return true;
}

}  // namespace

std::expected<DocumentUrl, UrlErrc> parse_txt(std::span<const std::byte> text) {
  std::string_view s(reinterpret_cast<const char*>(text.data()), text.size());
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty()) return std::unexpected(UrlErrc::empty);
  if (s.size() > kMaxUrlBytes) return std::unexpected(UrlErrc::too_long);
  if (std::any_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f || c == '#' || c == '\\' || c == '"';
      }))
    return std::unexpected(UrlErrc::bad_character);
  DocumentUrl url;
  url.url = std::string(s);
  std::string_view rest;
  if (s.starts_with("https://")) {
    url.https = true;
    rest = s.substr(8);
  } else if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else {
    return std::unexpected(UrlErrc::bad_scheme);
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::unexpected(UrlErrc::bad_path);
  std::string_view authority = rest.substr(0, slash);
  url.path = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) return std::unexpected(UrlErrc::bad_host);
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::unexpected(UrlErrc::bad_host);
    const std::string_view host = authority.substr(1, close - 1);
    const auto a = core::IpAddress::parse(host);
    if (!a || !a->is_v6()) return std::unexpected(UrlErrc::bad_host);
    url.host = std::string(host);
    authority.remove_prefix(close + 1);
    if (!authority.empty()) {
      if (authority.front() != ':') return std::unexpected(UrlErrc::bad_host);
      port = authority.substr(1);
      if (port.empty()) return std::unexpected(UrlErrc::bad_port);
    }
  } else {
    const auto colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::unexpected(UrlErrc::bad_port);
    }
    if (!dns_name(host)) return std::unexpected(UrlErrc::bad_host);
    // All digits and dots: it must be an IPv4 address (no "1.2.3" shorthand reaching a resolver).
    if (std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
      const auto a = core::IpAddress::parse(host);
      if (!a || !a->is_v4()) return std::unexpected(UrlErrc::bad_host);
    }
    url.host = std::string(host);
  }
  if (!port.empty()) {
    const auto p = core::parse_whole<std::uint16_t>(port, 1, 65535);
    if (!p) return std::unexpected(UrlErrc::bad_port);
    url.port = *p;
  }
  return url;
}

std::string address_url(const core::IpAddress& address, bool https, std::uint16_t port) {
  std::string url = https ? "https://" : "http://";
  if (address.is_v6()) url += "[" + address.to_string() + "]";
  else url += address.to_string();
  if (port != 0) url += ":" + std::to_string(port);
  return url + kDocumentPath;
}

}  // namespace overflowd::discovery
