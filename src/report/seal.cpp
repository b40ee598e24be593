#include "report/seal.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/encoding.hpp"
#include "core/sodium.hpp"
#include "report/verify.hpp"

namespace overflowd::report {

X25519KeyPair x25519_from_secret(const std::array<std::uint8_t, 32>& secret) {
  core::init_sodium();
  X25519KeyPair k;
  k.secret = secret;
  crypto_scalarmult_base(k.public_key.data(), k.secret.data());
  return k;
}

X25519KeyPair generate_x25519() {
  core::init_sodium();
  X25519KeyPair k;
  crypto_box_keypair(k.public_key.data(), k.secret.data());
  return k;
}

Kid key_id(const X25519Public& key) {
  core::init_sodium();
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), key.data(), key.size());
  Kid kid{};
  std::copy_n(digest.begin(), kid.size(), kid.begin());
  return kid;
}

std::string kid_hex(const Kid& kid) { return core::to_hex(kid); }

void seal(std::string_view report, const X25519Public& key, std::string& out) {
  core::init_sodium();
  std::vector<std::uint8_t> box(report.size() + crypto_box_SEALBYTES);
  crypto_box_seal(box.data(), reinterpret_cast<const unsigned char*>(report.data()), report.size(), key.data());
  out.clear();
  out.reserve(box.size() * 4 / 3 + 64);
  out += "{\"sealed\":{\"box\":\"";
  core::append_base64(out, box);
  out += "\",\"kid\":\"";
  out += kid_hex(key_id(key));
  out += "\",\"v\":1}}";
}

bool looks_sealed(std::string_view raw) noexcept {
  std::size_t i = 0;
  const auto skip = [&] {
    while (i < raw.size() && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\r' || raw[i] == '\n')) ++i;
  };
  skip();
  if (i >= raw.size() || raw[i] != '{') return false;
  ++i;
  skip();
  return raw.substr(i).starts_with("\"sealed\"");
}

const char* to_string(SealErrc e) noexcept {
  switch (e) {
    case SealErrc::not_json:
      return "the sealed envelope is not JSON";
    case SealErrc::not_sealed:
      return "not a sealed envelope";
    case SealErrc::bad_envelope:
      return "\"sealed\" is not an object of v, kid and box";
    case SealErrc::bad_version:
      return "unknown sealed envelope version";
    case SealErrc::bad_kid:
      return "\"kid\" is not 16 hex digits";
    case SealErrc::bad_box:
      return "the box does not open";
    case SealErrc::unknown_kid:
      return "no key of this receiver has the kid";
    case SealErrc::no_key:
      return "this receiver has no encryption key";
  }
  return "unknown";
}

const char* counter_name(SealErrc e) noexcept {
  switch (e) {
    case SealErrc::not_json:
      return "sealed.not_json";
    case SealErrc::not_sealed:
      return "sealed.not_sealed";
    case SealErrc::bad_envelope:
      return "sealed.bad_envelope";
    case SealErrc::bad_version:
      return "sealed.bad_version";
    case SealErrc::bad_kid:
      return "sealed.bad_kid";
    case SealErrc::bad_box:
      return "sealed.bad_box";
    case SealErrc::unknown_kid:
      return "sealed.unknown_kid";
    case SealErrc::no_key:
      return "sealed.no_key";
  }
  return "sealed.unknown";
}

std::expected<SealedEnvelope, SealErrc> parse_sealed(std::span<const std::byte> raw) {
  const std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
  auto j = parse_strict(text, VerifyErrc::not_json);
  if (!j) return std::unexpected(SealErrc::not_json);
  if (!j->is_object() || j->size() != 1 || !j->contains("sealed")) return std::unexpected(SealErrc::not_sealed);
  const nlohmann::json& s = (*j)["sealed"];
  if (!s.is_object() || s.size() != 3) return std::unexpected(SealErrc::bad_envelope);
  const auto v = s.find("v");
  const auto kid = s.find("kid");
  const auto box = s.find("box");
  if (v == s.end() || kid == s.end() || box == s.end() || !kid->is_string() || !box->is_string())
    return std::unexpected(SealErrc::bad_envelope);
  if (!v->is_number_unsigned() || v->get<std::uint64_t>() != kSealVersion) return std::unexpected(SealErrc::bad_version);
  SealedEnvelope out;
  if (!core::from_hex(kid->get_ref<const std::string&>(), out.kid)) return std::unexpected(SealErrc::bad_kid);
  auto bytes = core::from_base64(box->get_ref<const std::string&>());
  if (!bytes || bytes->size() < crypto_box_SEALBYTES) return std::unexpected(SealErrc::bad_box);
  out.box = std::move(*bytes);
  return out;
}

void Keyring::add(const X25519KeyPair& keys) {
  keys_.push_back(keys);
  kids_.push_back(key_id(keys.public_key));
}

const X25519KeyPair* Keyring::find(const Kid& kid) const noexcept {
  for (std::size_t i = 0; i < kids_.size(); ++i)
    if (kids_[i] == kid) return &keys_[i];
  return nullptr;
}

std::expected<Opened, SealErrc> open_sealed(std::span<const std::byte> raw, const Keyring& keys) {
  auto env = parse_sealed(raw);
  if (!env) return std::unexpected(env.error());
  if (keys.empty()) return std::unexpected(SealErrc::no_key);
  const X25519KeyPair* k = keys.find(env->kid);
  if (!k) return std::unexpected(SealErrc::unknown_kid);
  core::init_sodium();
  Opened out;
  out.kid = env->kid;
  out.report.resize(env->box.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.report.data()), env->box.data(), env->box.size(),
                           k->public_key.data(), k->secret.data()) != 0)
    return std::unexpected(SealErrc::bad_box);
  return out;
}

bool add_recipient(std::string& message, std::string_view address) {
  const auto meta = message.rfind("\"metadata\":{");
  if (meta == std::string::npos || !message.ends_with("}}")) return false;
  if (message.find("\"recipient\":", meta) != std::string::npos) return false;
  // Members sorted: class, info, recipient, rotation, time.
  auto at = message.find(",\"rotation\":", meta);
  if (at == std::string::npos) at = message.find(",\"time\":", meta);
  if (at == std::string::npos) return false;
  std::string member = ",\"recipient\":\"";
  member += address;  // an address's text needs no escaping
  member += '"';
  message.insert(at, member);
  return true;
}

}  // namespace overflowd::report
