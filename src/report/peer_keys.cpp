#include "report/peer_keys.hpp"

#include <algorithm>

#include "core/encoding.hpp"

namespace overflowd::report {

namespace {

std::string_view next_word(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  std::size_t n = 0;
  while (n < s.size() && s[n] != ' ' && s[n] != '\t') ++n;
  const auto w = s.substr(0, n);
  s.remove_prefix(n);
  return w;
}

}  // namespace

std::expected<PeerKeys, std::string> PeerKeys::parse(std::span<const std::byte> bytes) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  PeerKeys out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto where = [&](const std::string& what) { return "line " + std::to_string(line_no) + ": " + what; };
    const std::string_view cidr = next_word(line);
    if (cidr.empty()) continue;
    const std::string_view x = next_word(line);
    const std::string_view id = next_word(line);
    if (!next_word(line).empty()) return std::unexpected(where("more than CIDR, x25519 key and identity"));
    PeerKey k;
    auto prefix = guard::Cidr::parse(cidr);
    if (!prefix) return std::unexpected(where(prefix.error()));
    k.prefix = *prefix;
    if (!core::from_hex(x, k.x25519)) return std::unexpected(where("the X25519 key is not 64 hex digits"));
    if (!id.empty()) {
      PublicKey identity{};
      if (!core::from_hex(id, identity)) return std::unexpected(where("the identity key is not 64 hex digits"));
      k.identity = identity;
    }
    if (std::any_of(out.keys_.begin(), out.keys_.end(), [&](const PeerKey& o) { return o.prefix == k.prefix; }))
      return std::unexpected(where(k.prefix.to_string() + " is listed twice"));
    if (out.keys_.size() >= kMaxPeerKeys) return std::unexpected(where("over " + std::to_string(kMaxPeerKeys) + " peers"));
    out.keys_.push_back(k);
  }
  std::stable_sort(out.keys_.begin(), out.keys_.end(),
                   [](const PeerKey& a, const PeerKey& b) { return a.prefix.length > b.prefix.length; });
  return out;
}

const PeerKey* PeerKeys::find(const core::IpAddress& address) const noexcept {
  for (const auto& k : keys_)
    if (k.prefix.contains(address)) return &k;
  return nullptr;
}

}  // namespace overflowd::report
