#include "discovery/trust_file.hpp"

#include <charconv>
#include <string_view>
#include <unordered_set>

#include "core/encoding.hpp"
#include "guard/cidr.hpp"

namespace overflowd::discovery {

const char* to_string(TrustErrc e) noexcept {
  switch (e) {
    case TrustErrc::too_large: return "too_large";
    case TrustErrc::bad_header: return "bad_header";
    case TrustErrc::bad_line: return "bad_line";
    case TrustErrc::bad_prefix: return "bad_prefix";
    case TrustErrc::bad_identity: return "bad_identity";
    case TrustErrc::bad_time: return "bad_time";
    case TrustErrc::duplicate: return "duplicate";
    case TrustErrc::too_many: return "too_many";
  }
  return "unknown";
}

namespace {

bool unix_time(std::string_view s, std::int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  if (s.size() > 1 && s.front() == '0') return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::expected<std::vector<TrustEntry>, TrustError> parse_trust(std::span<const std::byte> bytes) {
  if (bytes.size() > kMaxTrustBytes) return std::unexpected(TrustError{TrustErrc::too_large, 0});
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::vector<TrustEntry> out;
  std::unordered_set<std::string_view> seen;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    ++line_no;
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return std::unexpected(TrustError{TrustErrc::bad_line, line_no});
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line_no == 1) {
      if (line != kTrustHeader) return std::unexpected(TrustError{TrustErrc::bad_header, 1});
      continue;
    }
    std::string_view field[4];
    std::string_view rest = line;
    for (int i = 0; i < 4; ++i) {
      const std::size_t sp = i < 3 ? rest.find(' ') : rest.size();
      if (sp == std::string_view::npos || sp == 0) return std::unexpected(TrustError{TrustErrc::bad_line, line_no});
      field[i] = rest.substr(0, sp);
      rest = i < 3 ? rest.substr(sp + 1) : std::string_view{};
    }
    if (field[3].find(' ') != std::string_view::npos) return std::unexpected(TrustError{TrustErrc::bad_line, line_no});
    if (out.size() >= kMaxTrustEntries) return std::unexpected(TrustError{TrustErrc::too_many, line_no});
    TrustEntry e;
    auto cidr = guard::Cidr::parse(field[0]);
    if (!cidr || cidr->to_string() != field[0]) return std::unexpected(TrustError{TrustErrc::bad_prefix, line_no});
    e.prefix = std::string(field[0]);
    if (field[1].size() != 64 || !lower_hex(field[1]) || !core::from_hex(field[1], e.identity))
      return std::unexpected(TrustError{TrustErrc::bad_identity, line_no});
    if (!unix_time(field[2], e.first_seen) || !unix_time(field[3], e.last_seen) || e.first_seen > e.last_seen)
      return std::unexpected(TrustError{TrustErrc::bad_time, line_no});
    if (!seen.insert(field[0]).second) return std::unexpected(TrustError{TrustErrc::duplicate, line_no});
    out.push_back(std::move(e));
  }
  if (line_no == 0) return std::unexpected(TrustError{TrustErrc::bad_header, 1});
  return out;
}

std::string format_trust(std::span<const TrustEntry> entries) {
  std::string out(kTrustHeader);
  out += '\n';
  std::size_t n = 0;
  for (const auto& e : entries) {
    if (n++ >= kMaxTrustEntries) break;
    out += e.prefix;
    out += ' ';
    out += core::to_hex(e.identity);
    out += ' ';
    out += std::to_string(e.first_seen);
    out += ' ';
    out += std::to_string(e.last_seen);
    out += '\n';
  }
  return out;
}

}  // namespace overflowd::discovery
