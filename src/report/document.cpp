#include "report/document.hpp"

#include <sodium.h>

#include <algorithm>

#include "core/encoding.hpp"
#include "core/sodium.hpp"
#include "guard/cidr.hpp"
#include "report/verify.hpp"

namespace overflowd::report {

using nlohmann::json;

namespace {

std::string canonical(const json& j) {
  // nlohmann's objects are sorted std::maps and its dump writes no white space, escapes as RFC 8785
  // does and leaves UTF-8 as it is: for members with ASCII names and integer values (all here) the
  // dump is the canonical form.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool get_int(const json& j, const char* name, std::int64_t& out) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_number_integer()) return false;
  out = it->get<std::int64_t>();
  return true;
}

template <std::size_t N>
bool get_hex(const json& j, const char* name, std::array<std::uint8_t, N>& out) {
  const auto it = j.find(name);
  return it != j.end() && it->is_string() && core::from_hex(it->get_ref<const std::string&>(), out);
}

}  // namespace

const PublishedKey* Document::current_key(std::int64_t now_s) const noexcept {
  const PublishedKey* best = nullptr;
  for (const auto& k : encryption_keys)
    if (k.not_before <= now_s && now_s < k.not_after && (!best || k.not_before > best->not_before)) best = &k;
  return best;
}

bool Document::speaks_for(const core::IpAddress& address) const noexcept {
  for (const auto& p : prefixes) {
    auto c = guard::Cidr::parse(p);
    if (c && c->contains(address)) return true;
  }
  return false;
}

std::string build_document(const Document& doc, Signer& signer) {
  json j = doc.extra.is_object() ? doc.extra : json::object();
  j["service"] = "overflowd";
  j["version"] = 1;
  j["identity"] = core::to_hex(doc.identity);
  json keys = json::array();
  for (const auto& k : doc.encryption_keys)
    keys.push_back({{"kid", kid_hex(k.x25519)}, {"x25519", core::to_hex(k.x25519)}, {"not_before", k.not_before},
                    {"not_after", k.not_after}});
  j["encryption_keys"] = std::move(keys);
  j["contact"] = doc.contact;
  j["prefixes"] = doc.prefixes;
  j["accepts"] = doc.accepts;
  j["expires"] = doc.expires;
  j["rotations"] = doc.rotations.is_array() ? doc.rotations : json::array();
  SignedReport out;
  signer.sign(canonical(j), out);
  return std::move(out.line);
}

const char* to_string(DocumentErrc e) noexcept {
  switch (e) {
    case DocumentErrc::not_signed:
      return "the document is not signed JSON";
    case DocumentErrc::bad_member:
      return "the document lacks a member or has one of the wrong type";
    case DocumentErrc::wrong_service:
      return "the document is not an overflowd document of version 1";
    case DocumentErrc::identity_mismatch:
      return "the document is not signed by its identity key";
    case DocumentErrc::expired:
      return "the document has expired";
    case DocumentErrc::no_valid_key:
      return "the document has no encryption key valid now";
  }
  return "unknown";
}

std::expected<Document, DocumentErrc> parse_document(std::span<const std::byte> raw, std::int64_t now_s) {
  const std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
  auto v = verify_report(text);
  if (!v || v->compact) return std::unexpected(DocumentErrc::not_signed);
  const json& j = v->report;
  const auto service = j.find("service");
  const auto version = j.find("version");
  if (service == j.end() || version == j.end()) return std::unexpected(DocumentErrc::bad_member);
  if (*service != "overflowd" || !version->is_number_integer() || version->get<std::int64_t>() != 1)
    return std::unexpected(DocumentErrc::wrong_service);
  Document doc;
  if (!get_hex(j, "identity", doc.identity) || !get_int(j, "expires", doc.expires))
    return std::unexpected(DocumentErrc::bad_member);
  if (doc.identity != v->key) return std::unexpected(DocumentErrc::identity_mismatch);
  if (doc.expires <= now_s) return std::unexpected(DocumentErrc::expired);
  const auto keys = j.find("encryption_keys");
  const auto prefixes = j.find("prefixes");
  if (keys == j.end() || !keys->is_array() || prefixes == j.end() || !prefixes->is_array())
    return std::unexpected(DocumentErrc::bad_member);
  for (const auto& k : *keys) {
    if (!k.is_object()) return std::unexpected(DocumentErrc::bad_member);
    PublishedKey pk;
    Kid kid{};
    if (!get_hex(k, "x25519", pk.x25519) || !get_hex(k, "kid", kid) || !get_int(k, "not_before", pk.not_before) ||
        !get_int(k, "not_after", pk.not_after))
      return std::unexpected(DocumentErrc::bad_member);
    if (kid != key_id(pk.x25519)) return std::unexpected(DocumentErrc::bad_member);
    doc.encryption_keys.push_back(pk);
  }
  for (const auto& p : *prefixes) {
    if (!p.is_string()) return std::unexpected(DocumentErrc::bad_member);
    doc.prefixes.push_back(p.get<std::string>());
  }
  if (const auto c = j.find("contact"); c != j.end()) doc.contact = *c;
  if (const auto a = j.find("accepts"); a != j.end()) doc.accepts = *a;
  if (const auto r = j.find("rotations"); r != j.end()) {
    if (!r->is_array()) return std::unexpected(DocumentErrc::bad_member);
    doc.rotations = *r;
  }
  if (!doc.current_key(now_s)) return std::unexpected(DocumentErrc::no_valid_key);
  return doc;
}

std::string build_rotation(const KeyPair& old_keys, const KeyPair& new_keys, std::int64_t time) {
  core::init_sodium();
  const json statement = {{"rotate", {{"old", public_key_hex(old_keys)}, {"new", public_key_hex(new_keys)}, {"time", time}}}};
  const std::string message = canonical(statement);
  json blocks = json::array();
  for (const KeyPair* k : {&old_keys, &new_keys}) {
    std::vector<std::uint8_t> signed_message(crypto_sign_BYTES + message.size());
    std::copy(message.begin(), message.end(), signed_message.begin() + crypto_sign_BYTES);
    crypto_sign_detached(signed_message.data(), nullptr, signed_message.data() + crypto_sign_BYTES, message.size(),
                         k->secret_key.data());
    std::string b64;
    core::append_base64(b64, signed_message);
    blocks.push_back({{"key", public_key_hex(*k)}, {"signature", std::move(b64)}});
  }
  json out = statement;
  out["signatures"] = std::move(blocks);
  return canonical(out);
}

const char* to_string(RotationErrc e) noexcept {
  switch (e) {
    case RotationErrc::not_json:
      return "the rotation statement is not JSON";
    case RotationErrc::bad_member:
      return "the rotation statement is not {rotate:{new,old,time},signatures:[2]}";
    case RotationErrc::bad_signature:
      return "a signature of the rotation statement does not verify";
    case RotationErrc::wrong_keys:
      return "the rotation statement is not signed by both the old and the new key";
  }
  return "unknown";
}

std::expected<Rotation, RotationErrc> verify_rotation(std::span<const std::byte> raw) {
  auto j = parse_strict(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()), VerifyErrc::not_json);
  if (!j) return std::unexpected(RotationErrc::not_json);
  return verify_rotation(*j);
}

std::expected<Rotation, RotationErrc> verify_rotation(const json& j) {
  core::init_sodium();
  if (!j.is_object() || j.size() != 2) return std::unexpected(RotationErrc::bad_member);
  const auto rot = j.find("rotate");
  const auto sigs = j.find("signatures");
  if (rot == j.end() || sigs == j.end() || !rot->is_object() || rot->size() != 3 || !sigs->is_array() ||
      sigs->size() != 2)
    return std::unexpected(RotationErrc::bad_member);
  Rotation r;
  if (!get_hex(*rot, "old", r.old_key) || !get_hex(*rot, "new", r.new_key) || !get_int(*rot, "time", r.time))
    return std::unexpected(RotationErrc::bad_member);
  if (r.old_key == r.new_key) return std::unexpected(RotationErrc::wrong_keys);
  const json statement = {{"rotate", *rot}};
  bool by_old = false, by_new = false;
  for (const auto& block : *sigs) {
    PublicKey key{};
    if (!block.is_object() || block.size() != 2 || !get_hex(block, "key", key))
      return std::unexpected(RotationErrc::bad_member);
    const auto sig = block.find("signature");
    if (sig == block.end() || !sig->is_string()) return std::unexpected(RotationErrc::bad_member);
    auto bytes = core::from_base64(sig->get_ref<const std::string&>());
    if (!bytes || bytes->size() < crypto_sign_BYTES) return std::unexpected(RotationErrc::bad_signature);
    const std::uint8_t* msg = bytes->data() + crypto_sign_BYTES;
    const std::size_t len = bytes->size() - crypto_sign_BYTES;
    if (crypto_sign_verify_detached(bytes->data(), msg, len, key.data()) != 0)
      return std::unexpected(RotationErrc::bad_signature);
    auto signed_json = parse_strict(std::string_view(reinterpret_cast<const char*>(msg), len), VerifyErrc::not_json);
    if (!signed_json || *signed_json != statement) return std::unexpected(RotationErrc::bad_signature);
    if (key == r.old_key) by_old = true;
    else if (key == r.new_key) by_new = true;
    else return std::unexpected(RotationErrc::wrong_keys);
  }
  if (!by_old || !by_new) return std::unexpected(RotationErrc::wrong_keys);
  return r;
}

std::expected<std::string, RotationErrc> rotation_member(std::span<const std::byte> statement) {
  auto j = parse_strict(std::string_view(reinterpret_cast<const char*>(statement.data()), statement.size()),
                        VerifyErrc::not_json);
  if (!j) return std::unexpected(RotationErrc::not_json);
  auto r = verify_rotation(*j);
  if (!r) return std::unexpected(r.error());
  std::string by_old, by_new;
  for (const auto& block : (*j)["signatures"]) {
    PublicKey key{};
    (void)get_hex(block, "key", key);
    auto bytes = core::from_base64(block["signature"].get_ref<const std::string&>());
    std::string& into = key == r->old_key ? by_old : by_new;
    core::append_base64(into, std::span<const std::uint8_t>(bytes->data(), crypto_sign_BYTES));
  }
  const json member = {{"old", core::to_hex(r->old_key)}, {"signatures", {by_old, by_new}}, {"time", r->time}};
  // Signatures over another serialization of the same statement verify there but not here.
  if (auto again = verify_rotation_member(member, r->new_key); !again) return std::unexpected(again.error());
  return canonical(member);
}

std::expected<Rotation, RotationErrc> verify_rotation_member(const json& member, const PublicKey& report_key) {
  core::init_sodium();
  if (!member.is_object() || member.size() != 3) return std::unexpected(RotationErrc::bad_member);
  const auto sigs = member.find("signatures");
  if (sigs == member.end() || !sigs->is_array() || sigs->size() != 2) return std::unexpected(RotationErrc::bad_member);
  Rotation r;
  r.new_key = report_key;
  if (!get_hex(member, "old", r.old_key) || !get_int(member, "time", r.time))
    return std::unexpected(RotationErrc::bad_member);
  if (r.old_key == r.new_key) return std::unexpected(RotationErrc::wrong_keys);
  const std::string message = canonical(
      {{"rotate", {{"old", core::to_hex(r.old_key)}, {"new", core::to_hex(r.new_key)}, {"time", r.time}}}});
  const PublicKey* keys[2] = {&r.old_key, &r.new_key};
  for (std::size_t i = 0; i < 2; ++i) {
    const json& s = (*sigs)[i];
    if (!s.is_string()) return std::unexpected(RotationErrc::bad_member);
    auto bytes = core::from_base64(s.get_ref<const std::string&>());
    if (!bytes || bytes->size() != crypto_sign_BYTES) return std::unexpected(RotationErrc::bad_signature);
    if (crypto_sign_verify_detached(bytes->data(), reinterpret_cast<const unsigned char*>(message.data()),
                                    message.size(), keys[i]->data()) != 0)
      return std::unexpected(RotationErrc::bad_signature);
  }
  return r;
}

}  // namespace overflowd::report
