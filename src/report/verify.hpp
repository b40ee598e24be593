// Verifies a report line, in either wire form:
//  - the full report: {"contact":..,"flowdata":..,"metadata":..,"signature":{"key","signature"}}
//  - the compact form: the signature block alone, {"key":..,"signature":..}
// A full report verifies when its signature is valid for its key AND the signed message parses to
// the report without its signature block (so no unsigned field can ride along). The signature block
// holds exactly "key" and "signature", and no object may name a member twice (parsers disagree on
// which of the two values counts).
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "report/keys.hpp"

namespace overflowd::report {

enum class VerifyErrc : std::uint8_t {
  too_large,               // over kMaxReportBytes
  too_deep,                // JSON nesting over kMaxDepth
  not_json,
  not_an_object,
  duplicate_key,           // an object names a member twice (forbidden by I-JSON, RFC 7493)
  no_signature_block,      // neither a report with "signature" nor the compact form
  bad_key,                 // "key" is not 64 hex digits
  bad_signature_encoding,  // "signature" is not base64
  signature_too_short,     // fewer than 64 bytes
  bad_signature,           // Ed25519 verification failed
  message_not_json,        // the signed message is not a JSON object
  message_mismatch,        // the signed message is not the report without its signature block
  byte_order_mark,         // the line or the signed message starts with a UTF-8 byte-order mark (RFC 8259 8.1)
};

[[nodiscard]] const char* to_string(VerifyErrc e) noexcept;

inline constexpr std::size_t kMaxReportBytes = 64 * 1024;
inline constexpr int kMaxDepth = 32;

struct VerifiedReport {
  PublicKey key{};
  std::array<std::uint8_t, 64> signature{};  // the detached Ed25519 signature
  std::string message;     // the signed bytes
  nlohmann::json report;   // the parsed message
  bool compact = false;    // arrived in the compact wire form
};

[[nodiscard]] std::expected<VerifiedReport, VerifyErrc> verify_report(std::string_view line);

// The strict JSON reading verify_report applies to both the line and the message: at most
// kMaxReportBytes, no NUL, nesting at most kMaxDepth, no member named twice. `not_json` is the code
// for text that is not JSON. (The sealed envelope and the published document are read with it too.)
[[nodiscard]] std::expected<nlohmann::json, VerifyErrc> parse_strict(std::string_view s, VerifyErrc not_json);

}  // namespace overflowd::report
