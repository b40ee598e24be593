#include "report/report_builder.hpp"

#include <algorithm>
#include <limits>

#include "report/json_writer.hpp"
#include "report/report_schema.hpp"

namespace overflowd::report {

void ReportBuilder::build(const core::FlowRecord& f, std::int64_t now_ns, std::string& out,
                          std::span<const policy::Reason> reasons, bool coherent) const {
  out.clear();
  out += '{';
  if (!config_.contact.empty()) {
    out += "\"contact\":{";
    MemberWriter c{out};
    if (!config_.contact.email.empty()) {
      c.key("email");
      json::append_string(out, config_.contact.email);
    }
    if (!config_.contact.identity.empty()) {
      c.key("identity");
      json::append_string(out, config_.contact.identity);
    }
    out += "},";
  }

  // flowdata.data, keys in sorted (RFC 8785) order: the schema's order (report_schema.hpp).
  out += "\"flowdata\":{\"data\":{";
  MemberWriter d{out};
  for (const SchemaField& field : report_schema())
    if (field.build) field.build(d, field.json, f);
  out += "},\"sourcetype\":{\"type\":\"";
  out += core::to_string(f.source_type);
  out += "\",\"version\":";
  json::append_uint(out, f.source_version);
  out += "}},";

  out += reasons.empty() ? "\"metadata\":{\"class\":\"INFORMATIONAL\"," : "\"metadata\":{\"class\":\"SUSPICIOUS\",";
  if (coherent) out += "\"coherent\":true,";  // sorted between class and info (RFC 8785)
  out += "\"info\":\"FLOWSEEN\"";
  if (!reasons.empty()) {
    out += ",\"reasons\":[";
    for (std::size_t i = 0; i < reasons.size(); ++i) {
      if (i) out += ',';
      out += "{\"class\":\"";
      out += policy::to_string(reasons[i].reason);  // a fixed name: nothing to escape
      out += '"';
      if (!reasons[i].list.empty()) {
        out += ",\"list\":";
        json::append_string(out, reasons[i].list);
      }
      out += ",\"rule\":";
      json::append_string(out, reasons[i].rule);
      out += '}';
    }
    out += ']';
  }
  // metadata.rotation (report_schema.hpp): the sender's latest rotation statement, for its period.
  if (!config_.rotation.empty() && now_ns < config_.rotation_until_ns) {
    out += ",\"rotation\":";
    out += config_.rotation;
  }
  out += ",\"time\":";
  const std::int64_t micros = now_ns / 1000;
  json::append_double(out, static_cast<double>(micros) / 1e6);
  out += "}}";
}

std::size_t worst_case_message_bytes(const ReportConfig& config, std::size_t recipient_bytes, bool with_rotation) {
  ReportConfig c = config;
  if (!with_rotation) c.rotation.clear();
  c.rotation_until_ns = std::numeric_limits<std::int64_t>::max();
  const ReportBuilder builder(c);
  const auto wide = *core::IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  core::FlowRecord f;
  f.src = f.dst = f.nexthop = f.exporter = wide;
  f.pcount = f.bcount = std::numeric_limits<std::uint64_t>::max();
  f.stime_ms = f.etime_ms = std::numeric_limits<std::int64_t>::min();
  f.input = f.output = f.src_as = f.dst_as = f.sampling_interval = std::numeric_limits<std::uint32_t>::max();
  f.fields = ~std::uint32_t{0};
  f.sport = f.dport = f.source_version = std::numeric_limits<std::uint16_t>::max();
  f.protocol = f.tcp_flags = f.tos = f.src_mask = f.dst_mask = f.icmp_type = f.icmp_code =
      std::numeric_limits<std::uint8_t>::max();
  std::size_t worst = 0;
  std::string out;
  // Every source type and interface format: each writes a different set of members.
  for (const auto type : {core::SourceType::netflow, core::SourceType::ipfix, core::SourceType::sflow})
    for (const auto format : {core::InterfaceFormat::ifindex, core::InterfaceFormat::discarded,
                              core::InterfaceFormat::multiple, core::InterfaceFormat::internal})
      for (const bool coherent : {false, true}) {
        f.source_type = type;
        f.input_format = f.output_format = format;
        // The longest time: 9223372036.854775 s (microseconds of the largest Unix ns).
        builder.build(f, std::numeric_limits<std::int64_t>::max() - 1, out, {}, coherent);
        worst = std::max(worst, out.size());
      }
  return worst + recipient_member_bytes(recipient_bytes);
}

}  // namespace overflowd::report
