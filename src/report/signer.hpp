// Signs a report and lays out the signed line, as PyNaCl's SigningKey.sign does:
//   signature.key       = the 64 hex digits of the Ed25519 public key
//   signature.signature = base64(64-byte signature || message)
// The message is the canonical unsigned report; the line is that report with the signature block
// added as its last member (keys stay in sorted order, so the line is canonical JSON too). The
// signed bytes are produced once here and sent as they are: nothing re-serializes a signed report.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report/keys.hpp"

namespace overflowd::report {

struct SignedReport {
  std::string line;                // the full report, one JSON object, no newline
  std::size_t signature_at = 0;    // where the signature block's object starts in `line`
  bool suspicious = false;         // metadata.class is SUSPICIOUS (the Guard lets it use the reserved share)
  bool sealed = false;             // `line` is a sealed envelope (seal.hpp): both wire forms are the line
  // When sealed: the binary sealed datagram (seal.hpp) UDP sends instead of the line; empty: none made.
  std::string datagram;

  // The compact wire form: the signature block alone, {"key":..,"signature":..}, which carries the
  // whole signed message. Valid while `line` is unchanged.
  [[nodiscard]] std::string_view compact() const noexcept {
    if (sealed) return line;
    return std::string_view(line).substr(signature_at, line.size() - 1 - signature_at);
  }
  // The signed message (the unsigned report), into `out`. Not for a sealed one.
  void message(std::string& out) const {
    constexpr std::string_view kMember = ",\"signature\":";
    out.assign(line, 0, signature_at - kMember.size());
    out += '}';
  }
};

class Signer {
public:
  explicit Signer(const KeyPair& keys);

  // `message` must be a JSON object (it ends with '}').
  void sign(std::string_view message, SignedReport& out);

  [[nodiscard]] const std::string& public_key_hex() const noexcept { return key_hex_; }

private:
  KeyPair keys_;
  std::string key_hex_;
  std::vector<std::uint8_t> scratch_;  // signature || message, reused between reports
};

// The size of each wire form for a signed message of `message` bytes, as Signer lays it out:
//   compact  {"key":"<64 hex>","signature":"<base64(64-byte signature || message)>"}
//   full     <message without its closing brace>,"signature":<compact>}
[[nodiscard]] constexpr std::size_t compact_line_bytes(std::size_t message) noexcept {
  constexpr std::size_t kFixed = std::string_view(R"({"key":"","signature":""})").size() + 64;
  return kFixed + 4 * ((64 + message + 2) / 3);
}
[[nodiscard]] constexpr std::size_t full_line_bytes(std::size_t message) noexcept {
  return message + std::string_view(R"(,"signature":)").size() + compact_line_bytes(message);
}

// The largest signed message whose line, in the compact or the full form, is at most `limit`
// bytes (0 when none fits): what a receiver taking lines of `limit` bytes accepts. The full form
// carries the message twice (as itself and in base64), so it holds about 3/7 of the line.
[[nodiscard]] constexpr std::size_t max_message_bytes(bool compact, std::size_t limit) noexcept {
  const auto size = [compact](std::size_t m) { return compact ? compact_line_bytes(m) : full_line_bytes(m); };
  std::size_t lo = 0, hi = limit;  // size(m) > m, so no message of `limit` bytes fits
  if (size(0) > limit) return 0;
  while (hi - lo > 1) {  // size(lo) <= limit < size(hi)
    const std::size_t mid = lo + (hi - lo) / 2;
    (size(mid) <= limit ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace overflowd::report
