#include "receive/ingest.hpp"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace overflowd::receive {

const char* to_string(Input i) noexcept {
  switch (i) {
    case Input::udp:
      return "udp";
    case Input::http:
      return "http";
    case Input::https:
      return "https";
    case Input::capture:
      return "capture";
    case Input::api:
      return "api";
  }
  return "unknown";
}

const char* to_string(TimeFlag f) noexcept {
  switch (f) {
    case TimeFlag::ok:
      return "ok";
    case TimeFlag::future:
      return "future";
    case TimeFlag::past:
      return "past";
    case TimeFlag::missing:
      return "missing";
  }
  return "unknown";
}

const char* reason_name(report::VerifyErrc e) noexcept {
  using report::VerifyErrc;
  switch (e) {
    case VerifyErrc::too_large:
      return "too_large";
    case VerifyErrc::too_deep:
      return "too_deep";
    case VerifyErrc::not_json:
      return "not_json";
    case VerifyErrc::not_an_object:
      return "not_an_object";
    case VerifyErrc::duplicate_key:
      return "duplicate_key";
    case VerifyErrc::no_signature_block:
      return "no_signature_block";
    case VerifyErrc::bad_key:
      return "bad_key";
    case VerifyErrc::bad_signature_encoding:
      return "bad_signature_encoding";
    case VerifyErrc::signature_too_short:
      return "signature_too_short";
    case VerifyErrc::bad_signature:
      return "bad_signature";
    case VerifyErrc::message_not_json:
      return "message_not_json";
    case VerifyErrc::message_mismatch:
      return "message_mismatch";
  }
  return "unknown";
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

ReportFields extract_fields(const json& report) {
  ReportFields f;
  const json* contact = member(&report, "contact");
  f.email = str(member(contact, "email"));
  f.identity = str(member(contact, "identity"));
  const json* metadata = member(&report, "metadata");
  if (const json* t = member(metadata, "time"); t && t->is_number()) {
    f.time = t->get<double>();
    f.has_time = std::isfinite(f.time);
  }
  const json* flowdata = member(&report, "flowdata");
  const json* st = member(flowdata, "sourcetype");
  f.source_type = str(member(st, "type"));
  f.source_version = integer(member(st, "version"));
  const json* d = member(flowdata, "data");
  f.saddr = address(member(d, "saddr"));
  f.daddr = address(member(d, "daddr"));
  f.exporter = address(member(d, "exporter"));
  f.sport = integer(member(d, "sport"));
  f.dport = integer(member(d, "dport"));
  f.protocol = integer(member(d, "protocol"));
  f.pcount = integer(member(d, "pcount"));
  f.bcount = integer(member(d, "bcount"));
  f.stime = integer(member(d, "stime"));
  f.etime = integer(member(d, "etime"));
  f.input_if = integer(member(d, "input"));
  f.output_if = integer(member(d, "output"));
  f.src_as = integer(member(d, "src_as"));
  f.dst_as = integer(member(d, "dst_as"));
  f.sampling_interval = integer(member(d, "sampling_interval"), 1);
  return f;
}

Verdict ingest(std::string_view raw, std::int64_t received_ns, const SkewPolicy& skew) {
  // Trailing white space (a newline from a line-oriented sender) is not part of the report.
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r' || raw.back() == ' ' || raw.back() == '\t'))
    raw.remove_suffix(1);
  auto keep_raw = [&] { return std::string(raw.substr(0, kMaxRawKept)); };
  if (raw.empty()) return Rejected{"empty", {}};
  std::expected<report::VerifiedReport, report::VerifyErrc> v = std::unexpected(report::VerifyErrc::not_json);
  try {
    v = report::verify_report(raw);
  } catch (...) {  // verify_report does not throw; an allocation failure still must not end the receiver
    return Rejected{"internal_error", keep_raw()};
  }
  if (!v) return Rejected{reason_name(v.error()), keep_raw()};

  Accepted a;
  a.key = v->key;
  a.signature = v->signature;
  a.message = std::move(v->message);
  a.compact = v->compact;
  a.fields = extract_fields(v->report);
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, a.digest.size());
  crypto_generichash_update(&st, a.key.data(), a.key.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(a.message.data()), a.message.size());
  crypto_generichash_final(&st, a.digest.data(), a.digest.size());

  const double now_s = static_cast<double>(received_ns) / 1e9;
  if (!a.fields.has_time) a.time_flag = TimeFlag::missing;
  else if (a.fields.time > now_s + skew.max_future_s) a.time_flag = TimeFlag::future;
  else if (a.fields.time < now_s - skew.max_past_s) a.time_flag = TimeFlag::past;
  return a;
}

}  // namespace overflowd::receive
