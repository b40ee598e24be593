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
  bool sealed = false;             // `line` is a sealed envelope (seal.hpp): both wire forms are the line

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

}  // namespace overflowd::report
