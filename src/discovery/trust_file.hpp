// The trust-on-first-use table on disk (--discovery-trust FILE, docs/manual.md, "Discovery"): what
// a restarted sender still trusts. Pure: bytes in, entries or a coded error out, and back. The
// Discoverer (net/discoverer.hpp) reads it at start and writes it atomically (temp file + rename).
//
// The format, one entry a line after a header line, most recently seen first:
//   overflowd-discovery-trust 1
//   <prefix CIDR, canonical> <identity: 64 lowercase hex digits> <first seen, Unix s> <last seen, Unix s>
// At most kMaxTrustEntries entries and kMaxTrustBytes bytes; a prefix once; first seen <= last seen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "report/keys.hpp"

namespace overflowd::discovery {

inline constexpr std::size_t kMaxTrustEntries = 100'000;
inline constexpr std::size_t kMaxTrustBytes = 16u << 20;
inline constexpr std::string_view kTrustHeader = "overflowd-discovery-trust 1";

struct TrustEntry {
  std::string prefix;  // the key of the TOFU table: a CIDR, canonical (guard::Cidr::to_string)
  report::PublicKey identity{};
  std::int64_t first_seen = 0;  // Unix s
  std::int64_t last_seen = 0;   // Unix s
  bool operator==(const TrustEntry&) const = default;
};

enum class TrustErrc : std::uint8_t {
  too_large,     // over kMaxTrustBytes
  bad_header,    // the first line is not kTrustHeader
  bad_line,      // not four fields separated by one space, or no newline at the end
  bad_prefix,    // not a canonical CIDR
  bad_identity,  // not 64 lowercase hex digits
  bad_time,      // not a decimal Unix time, or first seen after last seen
  duplicate,     // a prefix twice
  too_many,      // over kMaxTrustEntries
};
[[nodiscard]] const char* to_string(TrustErrc e) noexcept;

struct TrustError {
  TrustErrc code;
  std::size_t line;  // 1-based
};

[[nodiscard]] std::expected<std::vector<TrustEntry>, TrustError> parse_trust(std::span<const std::byte> text);
// The file's text for `entries` (at most kMaxTrustEntries of them are written).
[[nodiscard]] std::string format_trust(std::span<const TrustEntry> entries);

}  // namespace overflowd::discovery
