// Discovery's names (docs/manual.md, "Encryption", "Discovery"): where a network publishes the
// URL of its document, and that URL read back. Pure: no I/O.
//
// DNS: a TXT record `_overflowd` under the reverse zone of the address's /24 (IPv4) or /48 (IPv6):
//   198.51.100.7  -> _overflowd.100.51.198.in-addr.arpa
//   2001:db8:1::5 -> _overflowd.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa
// whose text is the document's URL: http:// or https://, a host (an IPv4 address, [IPv6], or a DNS
// name), an optional :port and a path; printable ASCII, at most kMaxUrlBytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "core/ip_address.hpp"
#include "guard/cidr.hpp"

namespace overflowd::discovery {

inline constexpr std::size_t kMaxUrlBytes = 512;
inline constexpr const char* kDocumentPath = "/.well-known/overflowd";

// The prefix a DNS answer speaks for: the address's /24 (IPv4) or /48 (IPv6).
[[nodiscard]] guard::Cidr zone_prefix(const core::IpAddress& address) noexcept;
// The TXT record's name for `address` (no trailing dot).
[[nodiscard]] std::string txt_name(const core::IpAddress& address);

struct DocumentUrl {
  bool https = false;
  std::string host;     // as written, without brackets
  std::uint16_t port = 0;  // 0: the scheme's default
  std::string path;     // starts with '/'
  std::string url;      // the whole URL, as written
  // The host as an address when it is one (then the Guard judges it before any connection).
  [[nodiscard]] std::optional<core::IpAddress> address() const { return core::IpAddress::parse(host); }
};

enum class UrlErrc : std::uint8_t {
  empty,
  too_long,
  bad_character,  // not printable ASCII, or a space, '#', '\', '"'
  bad_scheme,     // not http:// or https://
  bad_host,
  bad_port,
  bad_path,       // no path, or one not starting with '/'
};
[[nodiscard]] const char* to_string(UrlErrc e) noexcept;

// The text of a TXT record (its character strings joined): one URL, spaces around it ignored.
[[nodiscard]] std::expected<DocumentUrl, UrlErrc> parse_txt(std::span<const std::byte> text);

// The URL of `address`'s own document for --discovery http|https (port 0: the scheme's default).
[[nodiscard]] std::string address_url(const core::IpAddress& address, bool https, std::uint16_t port);

}  // namespace overflowd::discovery
