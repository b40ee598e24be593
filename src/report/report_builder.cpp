#include "report/report_builder.hpp"

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

}  // namespace overflowd::report
