// The receiver's published document (GET /.well-known/overflowd) and the rotation statement of an
// identity key (docs/manual.md, "Encryption"). Both are canonical JSON (RFC 8785) signed as a
// report is signed (signer.hpp): the document carries one signature block by its identity key,
// the statement two, by the old and by the new key. Pure: no I/O.
//
// The document:
//   {"accepts":{..},"contact":{..},"encryption_keys":[{"kid":..,"not_after":..,"not_before":..,
//    "x25519":..}],"expires":..,"identity":"<hex>","prefixes":["198.51.100.0/24"],"rotations":[..],
//    "service":"overflowd","version":1,"signature":{"key":"<identity hex>","signature":..}}
// The statement:
//   {"rotate":{"new":"<hex>","old":"<hex>","time":..},
//    "signatures":[{"key":"<old hex>","signature":..},{"key":"<new hex>","signature":..}]}
// where each signature is base64(Ed25519 signature || message) and the message is the statement
// without "signatures": {"rotate":{...}}.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ip_address.hpp"
#include "report/keys.hpp"
#include "report/seal.hpp"
#include "report/signer.hpp"

namespace overflowd::report {

struct PublishedKey {
  X25519Public x25519{};
  std::int64_t not_before = 0;  // Unix s
  std::int64_t not_after = 0;
};

struct Document {
  PublicKey identity{};
  std::vector<PublishedKey> encryption_keys;
  nlohmann::json contact = nlohmann::json::object();
  std::vector<std::string> prefixes;
  nlohmann::json accepts = nlohmann::json::object();
  std::int64_t expires = 0;
  nlohmann::json rotations = nlohmann::json::array();  // statements, as objects
  nlohmann::json extra = nlohmann::json::object();     // more members (e.g. "keys", for older readers)

  // The key to seal to at `now_s`: of the keys valid then, the one valid since the latest time.
  [[nodiscard]] const PublishedKey* current_key(std::int64_t now_s) const noexcept;
  // Whether one of `prefixes` holds `address` (a document speaks only for its prefixes).
  [[nodiscard]] bool speaks_for(const core::IpAddress& address) const noexcept;
};

// The signed document, one line of canonical JSON. `signer` must hold the identity key.
[[nodiscard]] std::string build_document(const Document& doc, Signer& signer);

enum class DocumentErrc : std::uint8_t {
  not_signed,       // not a report-like signed JSON object (report::verify_report refused it)
  bad_member,       // a required member missing or of the wrong type
  wrong_service,    // service is not "overflowd" or version not 1
  identity_mismatch,  // signed by another key than the one in "identity"
  expired,          // expires is past
  no_valid_key,     // no encryption key valid now
};
[[nodiscard]] const char* to_string(DocumentErrc e) noexcept;

// Verifies a document (its signature, by its own identity, and its expiry at `now_s`) and reads it.
[[nodiscard]] std::expected<Document, DocumentErrc> parse_document(std::span<const std::byte> raw, std::int64_t now_s);

// Rotation of an identity key.
struct Rotation {
  PublicKey old_key{};
  PublicKey new_key{};
  std::int64_t time = 0;
};

// The statement, signed by both keys (one line of canonical JSON).
[[nodiscard]] std::string build_rotation(const KeyPair& old_keys, const KeyPair& new_keys, std::int64_t time);

enum class RotationErrc : std::uint8_t {
  not_json,
  bad_member,      // not {"rotate":{new,old,time},"signatures":[2 blocks]}
  bad_signature,   // a block does not verify, or signs another message
  wrong_keys,      // the two blocks are not by exactly the old and the new key
};
[[nodiscard]] const char* to_string(RotationErrc e) noexcept;

[[nodiscard]] std::expected<Rotation, RotationErrc> verify_rotation(std::span<const std::byte> raw);
[[nodiscard]] std::expected<Rotation, RotationErrc> verify_rotation(const nlohmann::json& statement);

// A statement as a report carries it (metadata.rotation), short enough for a sealed datagram: the
// new key is the key that signs the report, and the two signatures are detached (64 bytes each,
// base64) over the same message as the statement's, {"rotate":{"new":..,"old":..,"time":..}}:
//   {"old":"<64 hex>","signatures":["<base64 sig by old>","<base64 sig by new>"],"time":<Unix s>}
// rotation_member makes it from a verified statement (`statement` as rotate-key wrote it);
// verify_rotation_member checks it for a report signed by `report_key`: both signatures verify
// over the statement with new = report_key (bad_signature otherwise).
[[nodiscard]] std::expected<std::string, RotationErrc> rotation_member(std::span<const std::byte> statement);
[[nodiscard]] std::expected<Rotation, RotationErrc> verify_rotation_member(const nlohmann::json& member,
                                                                           const PublicKey& report_key);

}  // namespace overflowd::report
