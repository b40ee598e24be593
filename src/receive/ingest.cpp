#include "receive/ingest.hpp"
#include "receive/rotation_book.hpp"

#include <sodium.h>

#include <string.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/encoding.hpp"
#include "core/enum_names.hpp"
#include "receive/report_scan.hpp"
#include "core/sodium.hpp"
#include "report/document.hpp"

namespace overflowd::receive {

const char* to_string(Input i) noexcept {
  static constexpr const char* kNames[] = {"udp", "http", "https", "capture", "api"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(Input::api) + 1);
  return core::enum_name(i, kNames);
}

const char* to_string(TimeFlag f) noexcept {
  static constexpr const char* kNames[] = {"ok", "future", "past", "missing"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(TimeFlag::missing) + 1);
  return core::enum_name(f, kNames);
}

// The counter names of report::VerifyErrc, in its order.
const char* reason_name(report::VerifyErrc e) noexcept {
  static constexpr const char* kNames[] = {
      "too_large",           "too_deep",         "not_json",         "not_an_object",          "duplicate_key",
      "no_signature_block",  "bad_key",          "bad_signature_encoding", "signature_too_short", "bad_signature",
      "message_not_json",    "message_mismatch", "byte_order_mark"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(report::VerifyErrc::byte_order_mark) + 1);
  return core::enum_name(e, kNames);
}

namespace {

using nlohmann::json;

const json* member(const json* j, const char* name) {
  if (!j || !j->is_object()) return nullptr;
  const auto it = j->find(name);
  return it == j->end() ? nullptr : &*it;
}

std::string str(const json* j) { return j && j->is_string() ? j->get<std::string>() : std::string(); }

std::int64_t integer(const json* j, std::int64_t fallback = 0) {
  if (!j) return fallback;
  if (j->is_number_unsigned()) {
    const auto v = j->get<std::uint64_t>();
    return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
  }
  if (j->is_number_integer()) return j->get<std::int64_t>();
  return fallback;
}

core::IpAddress address(const json* j) {
  if (!j || !j->is_string()) return {};
  const auto& s = j->get_ref<const std::string&>();
  if (s.size() > core::IpAddress::kMaxText) return {};
  auto a = core::IpAddress::parse(s);
  return a ? a->unmapped() : core::IpAddress{};
}

}  // namespace

namespace {

// Calls fn(row, value) for each kept field of the schema, with the value the report holds for it
// (null when absent or when a section on the way is not an object).
template <class Fn>
void for_each_kept_field(const json& report, Fn&& fn) {
  const json* flowdata = member(&report, "flowdata");
  const json* sections[] = {member(&report, "contact"), member(&report, "metadata"), member(flowdata, "sourcetype"),
                            member(flowdata, "data")};
  static_assert(std::size(sections) == static_cast<std::size_t>(report::Section::data) + 1);
  for (const report::SchemaField& field : report::report_schema()) {
    if (!field.kept()) continue;
    fn(field, member(sections[static_cast<std::size_t>(field.section)], std::string(field.json).c_str()));
  }
}

}  // namespace

ReportFields extract_fields(const json& report) {
  ReportFields f;
  static const ReportFields kDefaults;
  for_each_kept_field(report, [&](const report::SchemaField& field, const json* v) {
    if (field.reason_classes) {  // the "class" of each object in the array, joined by ','
      std::string& out = f.*field.text;
      if (v && v->is_array())
        for (const json& item : *v)
          if (const json* c = item.is_object() ? member(&item, "class") : nullptr; c && c->is_string()) {
            if (!out.empty()) out += ',';
            out += c->get_ref<const std::string&>();
          }
      return;
    }
    switch (field.type) {
      case report::FieldType::text:
        f.*field.text = str(v);
        break;
      case report::FieldType::integer:
        f.*field.integer = integer(v, kDefaults.*field.integer);
        break;
      case report::FieldType::address:
        f.*field.address = address(v);
        break;
      case report::FieldType::boolean:
        f.*field.flag = v && v->is_boolean() && v->get<bool>();
        break;
      case report::FieldType::number:
        if (v && v->is_number()) {
          f.*field.number = v->get<double>();
          f.*field.present = std::isfinite(f.*field.number);
        }
        break;
    }
  });
  return f;
}

bool integers_fit(const json& report) {
  bool fit = true;
  for_each_kept_field(report, [&](const report::SchemaField& field, const json* v) {
    if (field.type != report::FieldType::integer || !v) return;
    if (v->is_number_unsigned()) fit &= v->get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX);
    else if (v->is_number_float()) fit &= integer_float_fits(v->get<double>());
  });
  return fit;
}

namespace {

// Trailing white space (a newline from a line-oriented sender) is not part of the report.
std::string_view trim(std::string_view raw) noexcept {
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r' || raw.back() == ' ' || raw.back() == '\t'))
    raw.remove_suffix(1);
  return raw;
}

Rejected rejected(const char* reason, std::string_view raw) { return Rejected{reason, std::string(raw.substr(0, kMaxRawKept))}; }

// BLAKE2b-256 of key || message: the duplicate test's digest.
void digest_into(Accepted& a, std::string_view message) noexcept {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, a.digest.size());
  crypto_generichash_update(&st, a.key.data(), a.key.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  crypto_generichash_final(&st, a.digest.data(), a.digest.size());
}

// The time flag (a.digest is set).
void finish(Accepted& a, std::int64_t received_ns, const SkewPolicy& skew) {
  const double now_s = static_cast<double>(received_ns) / 1e9;
  if (!a.fields.has_time) a.time_flag = TimeFlag::missing;
  else if (a.fields.time > now_s + skew.max_future_s) a.time_flag = TimeFlag::future;
  else if (a.fields.time < now_s - skew.max_past_s) a.time_flag = TimeFlag::past;
}

// The two wire forms exactly as the sender's signer lays them out (report/signer.hpp):
//   compact  {"key":"<64 hex>","signature":"<base64>"}
//   full     <message without its closing brace>,"signature":{"key":"<64 hex>","signature":"<base64>"}}
struct WireParts {
  std::string_view prefix;  // full form: the line before ,"signature":
  std::string_view key_hex, base64;
  bool compact = false;
};

std::optional<WireParts> split_wire(std::string_view line) noexcept {
  constexpr std::string_view kCompactHead = "{\"key\":\"";
  constexpr std::string_view kFullHead = ",\"signature\":{\"key\":\"";
  constexpr std::string_view kMiddle = "\",\"signature\":\"";
  WireParts w;
  std::string_view s = line;
  if (s.ends_with("\"}}")) s.remove_suffix(3);
  else if (s.ends_with("\"}")) s.remove_suffix(2), w.compact = true;
  else return std::nullopt;
  // The base64 holds no quote: it starts after the last one (decode_base64_strict checks it).
  const void* quote = ::memrchr(s.data(), '"', s.size());
  if (!quote) return std::nullopt;
  const std::size_t b = static_cast<std::size_t>(static_cast<const char*>(quote) - s.data()) + 1;
  w.base64 = s.substr(b);
  s = s.substr(0, b);
  if (!s.ends_with(kMiddle)) return std::nullopt;
  s.remove_suffix(kMiddle.size());
  if (s.size() < 64) return std::nullopt;
  w.key_hex = s.substr(s.size() - 64);
  s.remove_suffix(64);
  if (w.compact) {
    if (s != kCompactHead) return std::nullopt;
  } else {
    if (!s.ends_with(kFullHead)) return std::nullopt;
    w.prefix = s.substr(0, s.size() - kFullHead.size());
  }
  return w;
}

}  // namespace

namespace {

// metadata.rotation, checked for the key that signed the report. Only reports that carry one
// (the text is in the signed message) pay for the parse.
Verdict with_rotation(Verdict v, const SkewPolicy& skew) {
  auto* a = std::get_if<Accepted>(&v);
  if (!a) return v;
  if (a->message.find("\"rotation\":") == std::string::npos) {
    // A statement this receiver took as a datagram of its own stands for the member.
    if (!skew.rotations) return v;
    if (auto r = skew.rotations->find(a->key)) {
      a->rotation = Accepted::RotationClaim::valid;
      a->rotated_from = r->old_key;
      a->rotation_time = r->time;
    }
    return v;
  }
  const auto j = nlohmann::json::parse(a->message, nullptr, /*allow_exceptions=*/false);
  const auto* meta = member(&j, "metadata");
  const auto* rot = member(meta, "rotation");
  if (!rot) return v;
  auto r = report::verify_rotation_member(*rot, a->key);
  a->rotation = r ? Accepted::RotationClaim::valid : Accepted::RotationClaim::invalid;
  if (r) {
    a->rotated_from = r->old_key;
    a->rotation_time = r->time;
  }
  return v;
}

}  // namespace

std::optional<Verdict> ingest_fast(std::string_view raw, std::int64_t received_ns, const SkewPolicy& skew,
                                   VerifiedCache* cache) {
  raw = trim(raw);
  if (raw.empty() || raw.size() > report::kMaxReportBytes) return std::nullopt;
  const auto w = split_wire(raw);
  if (!w) return std::nullopt;
  Accepted a;
  a.compact = w->compact;
  if (!core::from_hex(w->key_hex, a.key)) return std::nullopt;
  thread_local std::string signed_message;  // signature || message
  signed_message.clear();
  if (!decode_base64_strict(w->base64, signed_message) || signed_message.size() < crypto_sign_BYTES)
    return std::nullopt;
  const std::string_view message = std::string_view(signed_message).substr(crypto_sign_BYTES);
  // The full form: the line is the signed message with the signature block as its last member, so
  // the signed message must be the line's prefix and a closing brace, byte for byte. A line laid
  // out otherwise (re-serialized, members reordered) goes the reference path.
  if (!w->compact &&
      (message.size() != w->prefix.size() + 1 || message.back() != '}' || !message.starts_with(w->prefix)))
    return std::nullopt;
  ScanFacts facts;
  const bool scanned = scan_report(message, a.fields, facts);
  // For the full form the scan vouches for the whole line, which must not name "signature" twice
  // and must have a member before the signature block.
  if (!w->compact && (!scanned || facts.members == 0 || facts.has_signature)) return std::nullopt;
  core::init_sodium();
  const auto* sm = reinterpret_cast<const unsigned char*>(signed_message.data());
  std::copy_n(sm, crypto_sign_BYTES, a.signature.begin());
  digest_into(a, message);
  if (!cache || !cache->contains(a.digest, a.signature)) {
    if (crypto_sign_verify_detached(sm, sm + crypto_sign_BYTES, message.size(), a.key.data()) != 0)
      return rejected(reason_name(report::VerifyErrc::bad_signature), raw);
    if (cache) cache->insert(a.digest, a.signature);
  }
  if (!scanned) return std::nullopt;  // a compact report whose message the scanner is not sure of
  if (facts.integer_out_of_range) return rejected(kIntegerOutOfRange, raw);
  a.message.assign(message);
  finish(a, received_ns, skew);
  return with_rotation(std::move(a), skew);
}

Verdict ingest_reference(std::string_view raw, std::int64_t received_ns, const SkewPolicy& skew) {
  raw = trim(raw);
  if (raw.empty()) return Rejected{"empty", {}};
  std::expected<report::VerifiedReport, report::VerifyErrc> v = std::unexpected(report::VerifyErrc::not_json);
  try {
    v = report::verify_report(raw);
  } catch (...) {  // verify_report does not throw; an allocation failure still must not end the receiver
    return rejected("internal_error", raw);
  }
  if (!v) return rejected(reason_name(v.error()), raw);

  Accepted a;
  a.key = v->key;
  a.signature = v->signature;
  a.message = std::move(v->message);
  a.compact = v->compact;
  if (!integers_fit(v->report)) return rejected(kIntegerOutOfRange, raw);
  a.fields = extract_fields(v->report);
  digest_into(a, a.message);
  finish(a, received_ns, skew);
  return with_rotation(std::move(a), skew);
}

namespace {

Verdict ingest_plain(std::string_view raw, std::int64_t received_ns, const SkewPolicy& skew, VerifiedCache* cache) {
  try {
    if (auto v = ingest_fast(raw, received_ns, skew, cache)) return std::move(*v);
  } catch (...) {  // an allocation failure: the reference path decides
  }
  return ingest_reference(raw, received_ns, skew);
}

Rejected sealed_rejected(std::string reason, std::string_view raw) {
  return Rejected{std::move(reason), std::string(raw.substr(0, kMaxRawKept))};
}

// The recipient a sealed report names (metadata.recipient) must be in my prefixes (when I have
// some): a report sealed for another network is not taken as if meant for mine.
bool recipient_ok(const std::string& message, const SkewPolicy& skew) {
  if (!skew.my_prefixes || skew.my_prefixes->empty()) return true;
  const auto j = nlohmann::json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  const auto meta = j.find("metadata");
  if (meta == j.end() || !meta->is_object()) return false;
  const auto r = meta->find("recipient");
  if (r == meta->end() || !r->is_string()) return false;
  const auto address = core::IpAddress::parse(r->get_ref<const std::string&>());
  if (!address) return false;
  return std::any_of(skew.my_prefixes->begin(), skew.my_prefixes->end(),
                     [&](const Cidr& c) { return c.contains(address->unmapped()); });
}

}  // namespace

Verdict ingest(std::string_view raw, std::int64_t received_ns, const SkewPolicy& skew, VerifiedCache* cache) {
  const bool datagram = report::looks_sealed_datagram(raw);
  if (!datagram && !report::looks_sealed(raw)) return ingest_plain(raw, received_ns, skew, cache);
  // The encryption mode: open with a key valid at receipt, then verify the report inside as any other.
  const report::Keyring none;
  const report::Keyring& ring = skew.keyring ? *skew.keyring : none;
  const std::int64_t now_s = received_ns / 1'000'000'000;
  auto opened = datagram ? report::open_sealed_datagram(report::as_bytes(raw), ring, now_s)
                         : report::open_sealed(report::as_bytes(raw), ring, now_s);
  if (!opened) return sealed_rejected(report::counter_name(opened.error()), raw);
  Verdict v = ingest_plain(opened->report, received_ns, skew, cache);
  auto* accepted = std::get_if<Accepted>(&v);
  if (!accepted) {  // the inner report's reason, marked as sealed; the sealed bytes are kept
    return sealed_rejected("sealed." + std::get<Rejected>(v).reason, raw);
  }
  if (!recipient_ok(accepted->message, skew)) return sealed_rejected("sealed.recipient_mismatch", raw);
  accepted->kid = report::kid_hex(opened->kid);
  return v;
}

std::string verdict_difference(const Verdict& a, const Verdict& b) {
  if (a.index() != b.index()) {
    auto name = [](const Verdict& v) {
      return std::holds_alternative<Accepted>(v) ? std::string("accepted") : "rejected " + std::get<Rejected>(v).reason;
    };
    return name(a) + " vs " + name(b);
  }
  if (const auto* ra = std::get_if<Rejected>(&a)) {
    const auto& rb = std::get<Rejected>(b);
    if (ra->reason != rb.reason) return "reason " + ra->reason + " vs " + rb.reason;
    if (ra->raw != rb.raw) return "raw kept differs";
    return {};
  }
  const auto& x = std::get<Accepted>(a);
  const auto& y = std::get<Accepted>(b);
  if (x.key != y.key) return "key";
  if (x.signature != y.signature) return "signature";
  if (x.digest != y.digest) return "digest";
  if (x.message != y.message) return "message";
  if (x.compact != y.compact) return "form";
  if (x.kid != y.kid) return "kid";
  if (x.rotation != y.rotation || x.rotated_from != y.rotated_from) return "rotation";
  if (x.time_flag != y.time_flag) return "time_flag";
  // Every kept field of the report schema, by its type.
  const ReportFields& f = x.fields;
  const ReportFields& g = y.fields;
  for (const report::SchemaField& field : report::report_schema()) {
    const std::string name(field.json);
    if (field.text && f.*field.text != g.*field.text)
      return name + " '" + f.*field.text + "' vs '" + g.*field.text + "'";
    if (field.address && f.*field.address != g.*field.address) return name;
    if (field.integer && f.*field.integer != g.*field.integer)
      return name + " " + std::to_string(f.*field.integer) + " vs " + std::to_string(g.*field.integer);
    if (field.present && f.*field.present != g.*field.present) return "has " + name;
    if (field.flag && f.*field.flag != g.*field.flag) return name;
    if (field.number && std::memcmp(&(f.*field.number), &(g.*field.number), sizeof(double)) != 0)
      return name + " " + std::to_string(f.*field.number) + " vs " + std::to_string(g.*field.number);
  }
  return {};
}

}  // namespace overflowd::receive
