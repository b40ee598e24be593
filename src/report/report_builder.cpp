#include "report/report_builder.hpp"

#include "report/json_writer.hpp"
#include "report/report_schema.hpp"

namespace overflowd::report {

void ReportBuilder::build(const core::FlowRecord& f, std::int64_t now_ns, std::string& out, bool coherent) const {
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

  out += "\"metadata\":{\"class\":\"INFORMATIONAL\",";
  if (coherent) out += "\"coherent\":true,";  // sorted between class and info (RFC 8785)
  out += "\"info\":\"FLOWSEEN\",\"time\":";
  const std::int64_t micros = now_ns / 1000;
  json::append_double(out, static_cast<double>(micros) / 1e6);
  out += "}}";
}

}  // namespace overflowd::report
