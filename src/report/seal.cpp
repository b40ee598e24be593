#include "report/seal.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <optional>

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

void seal_datagram(std::span<const std::uint8_t, 32> signer_key, std::span<const std::uint8_t, 64> signature,
                   std::string_view message, const X25519Public& key, std::string& out) {
  core::init_sodium();
  thread_local std::vector<std::uint8_t> inner;
  inner.clear();
  inner.reserve(kDatagramInnerHead + message.size());
  inner.insert(inner.end(), signer_key.begin(), signer_key.end());
  inner.insert(inner.end(), signature.begin(), signature.end());
  inner.insert(inner.end(), message.begin(), message.end());
  out.clear();
  out.resize(kDatagramHeader + crypto_box_SEALBYTES + inner.size());
  std::copy(kDatagramMagic.begin(), kDatagramMagic.end(), out.begin());
  out[4] = static_cast<char>(kDatagramVersion);
  const Kid kid = key_id(key);
  std::copy(kid.begin(), kid.end(), out.begin() + 5);
  crypto_box_seal(reinterpret_cast<unsigned char*>(out.data() + kDatagramHeader), inner.data(), inner.size(), key.data());
}

bool seal_compact_datagram(std::string_view compact, const X25519Public& key, std::string& out) {
  constexpr std::string_view kHead = "{\"key\":\"", kMiddle = "\",\"signature\":\"", kTail = "\"}";
  if (!compact.starts_with(kHead) || !compact.ends_with(kTail) || compact.size() < kHead.size() + 64 + kMiddle.size())
    return false;
  std::array<std::uint8_t, 32> signer{};
  if (!core::from_hex(compact.substr(kHead.size(), 64), signer)) return false;
  const std::string_view rest = compact.substr(kHead.size() + 64);
  if (!rest.starts_with(kMiddle)) return false;
  const auto sm = core::from_base64(rest.substr(kMiddle.size(), rest.size() - kMiddle.size() - kTail.size()));
  if (!sm || sm->size() < 64) return false;
  const std::string_view message(reinterpret_cast<const char*>(sm->data()) + 64, sm->size() - 64);
  seal_datagram(signer, std::span<const std::uint8_t, 64>(sm->data(), 64), message, key, out);
  return true;
}

bool looks_sealed_datagram(std::string_view raw) noexcept { return raw.starts_with(kDatagramMagic); }

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
    case SealErrc::too_short:
      return "the sealed datagram is shorter than its header and an empty box";
    case SealErrc::bad_inner:
      return "the opened datagram is shorter than a key and a signature";
    case SealErrc::expired_kid:
      return "the key of this kid is not valid now";
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
    case SealErrc::too_short:
      return "sealed.too_short";
    case SealErrc::bad_inner:
      return "sealed.bad_inner";
    case SealErrc::expired_kid:
      return "sealed.expired_kid";
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

void Keyring::add(const X25519KeyPair& keys, Validity validity) {
  keys_.push_back(keys);
  kids_.push_back(key_id(keys.public_key));
  validity_.push_back(validity);
}

std::expected<const X25519KeyPair*, SealErrc> Keyring::find_valid(const Kid& kid, std::int64_t now_s) const noexcept {
  bool known = false;
  for (std::size_t i = 0; i < kids_.size(); ++i) {
    if (kids_[i] != kid) continue;
    if (validity_[i].contains(now_s)) return &keys_[i];
    known = true;
  }
  return std::unexpected(known ? SealErrc::expired_kid : SealErrc::unknown_kid);
}

const X25519KeyPair* Keyring::find(const Kid& kid) const noexcept {
  for (std::size_t i = 0; i < kids_.size(); ++i)
    if (kids_[i] == kid) return &keys_[i];
  return nullptr;
}

namespace {

std::expected<const X25519KeyPair*, SealErrc> key_for(const SealedEnvelope& env, const Keyring& keys,
                                                      std::optional<std::int64_t> now_s) {
  if (keys.empty()) return std::unexpected(SealErrc::no_key);
  if (now_s) return keys.find_valid(env.kid, *now_s);
  const X25519KeyPair* k = keys.find(env.kid);
  if (!k) return std::unexpected(SealErrc::unknown_kid);
  return k;
}

std::expected<Opened, SealErrc> open_json(std::span<const std::byte> raw, const Keyring& keys,
                                          std::optional<std::int64_t> now_s) {
  auto env = parse_sealed(raw);
  if (!env) return std::unexpected(env.error());
  const auto found = key_for(*env, keys, now_s);
  if (!found) return std::unexpected(found.error());
  const X25519KeyPair* k = *found;
  core::init_sodium();
  Opened out;
  out.kid = env->kid;
  out.report.resize(env->box.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.report.data()), env->box.data(), env->box.size(),
                           k->public_key.data(), k->secret.data()) != 0)
    return std::unexpected(SealErrc::bad_box);
  return out;
}

}  // namespace

std::expected<Opened, SealErrc> open_sealed(std::span<const std::byte> raw, const Keyring& keys) {
  return open_json(raw, keys, std::nullopt);
}

std::expected<Opened, SealErrc> open_sealed(std::span<const std::byte> raw, const Keyring& keys, std::int64_t now_s) {
  return open_json(raw, keys, now_s);
}

std::expected<SealedEnvelope, SealErrc> parse_sealed_datagram(std::span<const std::byte> raw) {
  const std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
  if (!looks_sealed_datagram(text)) return std::unexpected(SealErrc::not_sealed);
  if (raw.size() < kDatagramHeader) return std::unexpected(SealErrc::too_short);
  if (static_cast<std::uint8_t>(raw[4]) != kDatagramVersion) return std::unexpected(SealErrc::bad_version);
  if (raw.size() < kDatagramHeader + crypto_box_SEALBYTES) return std::unexpected(SealErrc::too_short);
  SealedEnvelope out;
  for (std::size_t i = 0; i < out.kid.size(); ++i) out.kid[i] = static_cast<std::uint8_t>(raw[5 + i]);
  const auto* box = reinterpret_cast<const std::uint8_t*>(raw.data()) + kDatagramHeader;
  out.box.assign(box, box + (raw.size() - kDatagramHeader));
  return out;
}

std::expected<Opened, SealErrc> open_sealed_datagram(std::span<const std::byte> raw, const Keyring& keys,
                                                     std::int64_t now_s) {
  auto env = parse_sealed_datagram(raw);
  if (!env) return std::unexpected(env.error());
  const auto found = key_for(*env, keys, now_s);
  if (!found) return std::unexpected(found.error());
  const X25519KeyPair* k = *found;
  core::init_sodium();
  thread_local std::vector<std::uint8_t> inner;
  inner.resize(env->box.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(inner.data(), env->box.data(), env->box.size(), k->public_key.data(), k->secret.data()) != 0)
    return std::unexpected(SealErrc::bad_box);
  if (inner.size() < kDatagramInnerHead) return std::unexpected(SealErrc::bad_inner);
  Opened out;
  out.kid = env->kid;
  out.report.reserve(96 + (inner.size() - 32) * 4 / 3 + 4);
  out.report = "{\"key\":\"";
  out.report += core::to_hex(std::span<const std::uint8_t>(inner.data(), 32));
  out.report += "\",\"signature\":\"";
  core::append_base64(out.report, std::span<const std::uint8_t>(inner.data() + 32, inner.size() - 32));
  out.report += "\"}";
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

bool remove_rotation(std::string& message) {
  const auto meta = message.rfind("\"metadata\":{");
  if (meta == std::string::npos || !message.ends_with("}}")) return false;
  const auto at = message.find(",\"rotation\":{", meta);
  if (at == std::string::npos) return false;
  // Members sorted: rotation, then time. The member has a "time" of its own, after its array.
  const auto end = message.find("},\"time\":", at);
  if (end == std::string::npos) return false;
  message.erase(at, end + 1 - at);
  return true;
}

}  // namespace overflowd::report
