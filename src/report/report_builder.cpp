#include "report/report_builder.hpp"

#include "report/json_writer.hpp"

namespace overflowd::report {

using core::Field;

namespace {

void put_address(std::string& out, const core::IpAddress& a) {
  char buf[core::IpAddress::kMaxText];
  out.push_back('"');
  out.append(buf, a.format(buf));
  out.push_back('"');
}

// Appends `"key":` with the comma that separates it from the previous member.
struct Members {
  std::string& out;
  bool first = true;
  void key(const char* k) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out += k;
    out += "\":";
  }
  void uint(const char* k, std::uint64_t v) {
    key(k);
    json::append_uint(out, v);
  }
  void address(const char* k, const core::IpAddress& a) {
    key(k);
    put_address(out, a);
  }
  // `k` (an ifIndex), or what it was instead: `k`_format, and `k`_value for the formats that have
  // one (discarded: the reason code; multiple: the interface count). Keys stay in sorted order:
  // "input" < "input_format" < "input_value".
  void interface(const char* k, core::InterfaceFormat format, std::uint32_t value) {
    using core::InterfaceFormat;
    if (format == InterfaceFormat::ifindex) {
      uint(k, value);
      return;
    }
    const std::string name(k);
    key((name + "_format").c_str());
    json::append_string(out, core::to_string(format));
    if (format != InterfaceFormat::internal) uint((name + "_value").c_str(), value);
  }
};

}  // namespace

void ReportBuilder::build(const core::FlowRecord& f, std::int64_t now_ns, std::string& out) const {
  out.clear();
  out += '{';
  if (!config_.contact.empty()) {
    out += "\"contact\":{";
    Members c{out};
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

  // flowdata.data, keys in sorted (RFC 8785) order.
  out += "\"flowdata\":{\"data\":{";
  Members d{out};
  if (f.has(Field::kBytes)) d.uint("bcount", f.bcount);
  if (f.has(Field::kDstAddr)) d.address("daddr", f.dst);
  if (f.has(Field::kPorts)) d.uint("dport", f.dport);
  if (f.has(Field::kAsNumbers)) d.uint("dst_as", f.dst_as);
  if (f.has(Field::kMasks)) d.uint("dst_mask", f.dst_mask);
  if (f.has(Field::kTimes)) {
    d.key("etime");
    json::append_int(out, f.etime_ms);
  }
  if (!f.exporter.empty()) d.address("exporter", f.exporter);
  if (f.has(Field::kTcpFlags)) d.uint("flags", f.tcp_flags);
  if (f.has(Field::kIcmp)) {
    d.uint("icmp_code", f.icmp_code);
    d.uint("icmp_type", f.icmp_type);
  }
  if (f.has(Field::kInterfaces)) d.interface("input", f.input_format, f.input);
  if (f.has(Field::kNextHop)) d.address("nexthop", f.nexthop);
  if (f.has(Field::kInterfaces)) d.interface("output", f.output_format, f.output);
  if (f.has(Field::kPackets)) d.uint("pcount", f.pcount);
  if (f.has(Field::kProtocol)) d.uint("protocol", f.protocol);
  if (f.has(Field::kSrcAddr)) d.address("saddr", f.src);
  d.uint("sampling_interval", f.sampling_interval);
  if (f.has(Field::kPorts)) d.uint("sport", f.sport);
  if (f.has(Field::kAsNumbers)) d.uint("src_as", f.src_as);
  if (f.has(Field::kMasks)) d.uint("src_mask", f.src_mask);
  if (f.has(Field::kTimes)) {
    d.key("stime");
    json::append_int(out, f.stime_ms);
  }
  if (f.has(Field::kTos)) d.uint("tos", f.tos);
  out += "},\"sourcetype\":{\"type\":\"";
  out += core::to_string(f.source_type);
  out += "\",\"version\":";
  json::append_uint(out, f.source_version);
  out += "}},";

  out += "\"metadata\":{\"class\":\"INFORMATIONAL\",\"info\":\"FLOWSEEN\",\"time\":";
  const std::int64_t micros = now_ns / 1000;
  json::append_double(out, static_cast<double>(micros) / 1e6);
  out += "}}";
}

}  // namespace overflowd::report
