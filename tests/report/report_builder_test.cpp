#include "report/report_builder.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace {

using overflowd::core::FlowRecord;
using overflowd::core::IpAddress;
using overflowd::core::SourceType;
using overflowd::report::Contact;
using overflowd::report::ReportBuilder;
using overflowd::report::ReportConfig;
namespace core = overflowd::core;

constexpr std::int64_t kNow = 1'763'850'000'123'456'789;  // Unix ns

// The first flow of netflow_4M.pcap, as the README shows its report.
FlowRecord first_flow() {
  FlowRecord f;
  f.src = *IpAddress::parse("122.166.90.143");
  f.dst = *IpAddress::parse("191.100.10.187");
  f.nexthop = *IpAddress::parse("122.166.1.1");
  f.exporter = *IpAddress::parse("122.166.4.242");
  f.pcount = 6;
  f.bcount = 1244;
  f.stime_ms = 1'185'554'890'916;
  f.etime_ms = 1'185'554'891'116;
  f.input = 4;
  f.output = 6;
  f.sport = 2968;
  f.dport = 80;
  f.protocol = 6;
  f.tcp_flags = 27;
  f.source_version = 5;
  f.source_type = SourceType::netflow;
  f.fields = core::kNetflowV5Fields;
  return f;
}

std::string build(const FlowRecord& f, Contact contact = {}, std::int64_t now = kNow) {
  ReportBuilder b(ReportConfig{std::move(contact)});
  std::string out = "left over";
  b.build(f, now, out);
  return out;
}

// Every object, at every level, has its members in sorted order (RFC 8785 section 3.2.3; all keys
// here are ASCII, so byte order is UTF-16 code unit order).
void expect_sorted(const nlohmann::ordered_json& j, const std::string& where = "$") {
  if (!j.is_object()) return;
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) {
    keys.push_back(it.key());
    expect_sorted(it.value(), where + "." + it.key());
  }
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end())) << where;
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size()) << where << " has duplicate keys";
}

std::set<std::string> data_keys(const std::string& report) {
  const auto j = nlohmann::json::parse(report);
  std::set<std::string> keys;
  for (auto it = j["flowdata"]["data"].begin(); it != j["flowdata"]["data"].end(); ++it) keys.insert(it.key());
  return keys;
}

TEST(ReportBuilder, TheReadmeReportByteForByte) {
  const std::string got = build(first_flow(), {"noc@example.net", "Example Net"});
  const std::string want =
      R"({"contact":{"email":"noc@example.net","identity":"Example Net"},)"
      R"("flowdata":{"data":{"bcount":1244,"daddr":"191.100.10.187","dport":80,"dst_as":0,"dst_mask":0,)"
      R"("etime":1185554891116,"exporter":"122.166.4.242","flags":27,"input":4,"nexthop":"122.166.1.1",)"
      R"("output":6,"pcount":6,"protocol":6,"saddr":"122.166.90.143","sampling_interval":1,"sport":2968,)"
      R"("src_as":0,"src_mask":0,"stime":1185554890916,"tos":0},"sourcetype":{"type":"Netflow","version":5}},)"
      R"("metadata":{"class":"INFORMATIONAL","info":"FLOWSEEN","time":1763850000.123456}})";
  EXPECT_EQ(got, want);
}

TEST(ReportBuilder, KeysAreSortedAtEveryLevel) {
  FlowRecord f = first_flow();
  f.fields |= core::kIcmp;
  for (const Contact& c : {Contact{}, Contact{"a@b", ""}, Contact{"", "X"}, Contact{"a@b", "X"}}) {
    const std::string report = build(f, c);
    expect_sorted(nlohmann::ordered_json::parse(report));
  }
}

TEST(ReportBuilder, IsCanonicalJson) {
  // nlohmann::json keeps keys sorted and dumps without white space, so a canonical report survives
  // a parse and dump unchanged.
  FlowRecord f = first_flow();
  f.src = *IpAddress::parse("2001:db8::1");
  f.dst = *IpAddress::parse("2001:db8:0:1::2");
  const std::string report = build(f, {"noc@example.net", "Ex \"quoted\" \\ \x01 caf\xc3\xa9"});
  EXPECT_EQ(nlohmann::json::parse(report).dump(), report);
  EXPECT_EQ(report.find(' ', report.find("\"flowdata\"")), std::string::npos);
}

TEST(ReportBuilder, FieldsPresentAndAbsentFollowTheFieldBits) {
  const std::map<core::Field, std::set<std::string>> keys_of = {
      {core::kSrcAddr, {"saddr"}},
      {core::kDstAddr, {"daddr"}},
      {core::kPorts, {"sport", "dport"}},
      {core::kProtocol, {"protocol"}},
      {core::kPackets, {"pcount"}},
      {core::kBytes, {"bcount"}},
      {core::kTimes, {"stime", "etime"}},
      {core::kTcpFlags, {"flags"}},
      {core::kTos, {"tos"}},
      {core::kNextHop, {"nexthop"}},
      {core::kInterfaces, {"input", "output"}},
      {core::kAsNumbers, {"src_as", "dst_as"}},
      {core::kMasks, {"src_mask", "dst_mask"}},
      {core::kIcmp, {"icmp_type", "icmp_code"}},
  };
  // Always there: the sampling interval and (when known) the exporter.
  const std::set<std::string> always = {"sampling_interval", "exporter"};
  FlowRecord f = first_flow();
  f.fields = 0;
  EXPECT_EQ(data_keys(build(f)), always);
  for (const auto& [field, keys] : keys_of) {
    f.fields = field;
    std::set<std::string> want = always;
    want.insert(keys.begin(), keys.end());
    EXPECT_EQ(data_keys(build(f)), want) << "field bit " << field;
  }
  f.fields = 0x3fff;
  std::set<std::string> all = always;
  for (const auto& [field, keys] : keys_of) all.insert(keys.begin(), keys.end());
  EXPECT_EQ(data_keys(build(f)), all);
}

TEST(ReportBuilder, ExporterIsLeftOutWhenUnknown) {
  FlowRecord f = first_flow();
  f.exporter = IpAddress{};
  EXPECT_EQ(data_keys(build(f)).count("exporter"), 0u);
}

TEST(ReportBuilder, ValuesAreWrittenFromTheRecord) {
  FlowRecord f;
  f.fields = 0x3fff;
  f.src = *IpAddress::parse("2001:db8::1");
  f.dst = *IpAddress::parse("::ffff:192.0.2.1");
  f.nexthop = *IpAddress::parse("fe80::1");
  f.exporter = *IpAddress::parse("192.0.2.9");
  f.pcount = 18'446'744'073'709'551'615ull;
  f.bcount = 9'007'199'254'740'993ull;  // above 2^53: exact in the text
  f.stime_ms = -5;
  f.etime_ms = 4'102'444'800'000;
  f.input = 4'294'967'295u;
  f.output = 7;
  f.src_as = 4'200'000'000u;
  f.dst_as = 65'001;
  f.sampling_interval = 1000;
  f.sport = 65535;
  f.dport = 0;
  f.protocol = 58;
  f.tcp_flags = 0;
  f.tos = 255;
  f.src_mask = 128;
  f.dst_mask = 64;
  f.icmp_type = 128;
  f.icmp_code = 3;
  f.source_type = SourceType::ipfix;
  f.source_version = 10;
  const std::string report = build(f);
  const auto j = nlohmann::json::parse(report);
  const auto& d = j["flowdata"]["data"];
  EXPECT_EQ(d["saddr"], "2001:db8::1");
  EXPECT_EQ(d["daddr"], "::ffff:192.0.2.1");
  EXPECT_EQ(d["nexthop"], "fe80::1");
  EXPECT_EQ(d["exporter"], "192.0.2.9");
  EXPECT_NE(report.find("\"pcount\":18446744073709551615,"), std::string::npos);
  EXPECT_NE(report.find("\"bcount\":9007199254740993,"), std::string::npos);
  EXPECT_EQ(d["stime"], -5);
  EXPECT_EQ(d["etime"], 4'102'444'800'000);
  EXPECT_EQ(d["input"], 4'294'967'295u);
  EXPECT_EQ(d["output"], 7);
  EXPECT_EQ(d["src_as"], 4'200'000'000u);
  EXPECT_EQ(d["dst_as"], 65'001);
  EXPECT_EQ(d["sampling_interval"], 1000);
  EXPECT_EQ(d["sport"], 65535);
  EXPECT_EQ(d["dport"], 0);
  EXPECT_EQ(d["protocol"], 58);
  EXPECT_EQ(d["flags"], 0);
  EXPECT_EQ(d["tos"], 255);
  EXPECT_EQ(d["src_mask"], 128);
  EXPECT_EQ(d["dst_mask"], 64);
  EXPECT_EQ(d["icmp_type"], 128);
  EXPECT_EQ(d["icmp_code"], 3);
  EXPECT_EQ(j["flowdata"]["sourcetype"], (nlohmann::json{{"type", "IPFIX"}, {"version", 10}}));
}

TEST(ReportBuilder, ContactBlockOnlyWhenConfigured) {
  const FlowRecord f = first_flow();
  auto j = nlohmann::json::parse(build(f));
  EXPECT_FALSE(j.contains("contact"));
  EXPECT_EQ(j.size(), 2u);

  j = nlohmann::json::parse(build(f, {"noc@example.net", ""}));
  EXPECT_EQ(j["contact"], (nlohmann::json{{"email", "noc@example.net"}}));

  j = nlohmann::json::parse(build(f, {"", "Example Net"}));
  EXPECT_EQ(j["contact"], (nlohmann::json{{"identity", "Example Net"}}));

  j = nlohmann::json::parse(build(f, {"noc@example.net", "Example Net"}));
  EXPECT_EQ(j["contact"], (nlohmann::json{{"email", "noc@example.net"}, {"identity", "Example Net"}}));
}

TEST(ReportBuilder, ContactTextIsEscaped) {
  const std::string identity = "A \"B\" \\ C\n\x1f caf\xc3\xa9 /";
  const auto j = nlohmann::json::parse(build(first_flow(), {"x@y", identity}));
  EXPECT_EQ(j["contact"]["identity"], identity);
}

TEST(ReportBuilder, SourceTypeNamesAndVersions) {
  FlowRecord f = first_flow();
  const std::pair<SourceType, std::uint16_t> cases[] = {
      {SourceType::netflow, 5}, {SourceType::netflow, 9}, {SourceType::ipfix, 10}, {SourceType::sflow, 5}};
  const char* names[] = {"Netflow", "Netflow", "IPFIX", "sFlow"};
  for (std::size_t i = 0; i < 4; ++i) {
    f.source_type = cases[i].first;
    f.source_version = cases[i].second;
    const auto j = nlohmann::json::parse(build(f));
    EXPECT_EQ(j["flowdata"]["sourcetype"]["type"], names[i]);
    EXPECT_EQ(j["flowdata"]["sourcetype"]["version"], cases[i].second);
    EXPECT_EQ(j["flowdata"]["sourcetype"].size(), 2u);
  }
}

TEST(ReportBuilder, Metadata) {
  const auto j = nlohmann::json::parse(build(first_flow()));
  EXPECT_EQ(j["metadata"]["class"], "INFORMATIONAL");
  EXPECT_EQ(j["metadata"]["info"], "FLOWSEEN");
  EXPECT_EQ(j["metadata"].size(), 3u);
}

std::string time_text(std::int64_t now_ns) {
  const std::string r = build(first_flow(), {}, now_ns);
  const auto at = r.find("\"time\":") + 7;
  return r.substr(at, r.size() - 2 - at);
}

TEST(ReportBuilder, TimeIsUnixSecondsWithMicrosecondPrecision) {
  EXPECT_EQ(time_text(1'763'850'000'123'456'789), "1763850000.123456");  // nanoseconds truncated
  EXPECT_EQ(time_text(1'763'850'000'123'456'000), "1763850000.123456");
  EXPECT_EQ(time_text(1'763'850'000'000'000'000), "1763850000");
  EXPECT_EQ(time_text(1'763'850'000'000'001'000), "1763850000.000001");
  EXPECT_EQ(time_text(1'763'850'000'000'000'999), "1763850000");
  EXPECT_EQ(time_text(1'763'850'000'100'000'000), "1763850000.1");
  EXPECT_EQ(time_text(1'763'850'000'999'999'999), "1763850000.999999");
}

TEST(ReportBuilder, TimeTextIsExactlyTheMicrosecondsForManyTimes) {
  // For present-day times, the text must name the exact microsecond: integer part and at most six
  // fractional digits, equal to now_ns / 1000.
  std::uint64_t state = 42;
  for (int i = 0; i < 20'000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const std::int64_t micros = 1'600'000'000'000'000 + static_cast<std::int64_t>((state >> 11) % 2'000'000'000'000'000);
    const std::string t = time_text(micros * 1000 + static_cast<std::int64_t>(state % 1000));
    const auto dot = t.find('.');
    std::int64_t whole = std::stoll(t.substr(0, dot));
    std::string frac = dot == std::string::npos ? "" : t.substr(dot + 1);
    ASSERT_LE(frac.size(), 6u) << t;
    ASSERT_TRUE(frac.empty() || frac.back() != '0') << t;
    frac.append(6 - frac.size(), '0');
    ASSERT_EQ(whole * 1'000'000 + std::stoll(frac), micros) << t;
  }
}

TEST(ReportBuilder, BuildReplacesTheOutput) {
  ReportBuilder b(ReportConfig{});
  std::string out;
  b.build(first_flow(), kNow, out);
  const std::string once = out;
  b.build(first_flow(), kNow, out);
  EXPECT_EQ(out, once);
  EXPECT_EQ(out.front(), '{');
}

}  // namespace

// sFlow's interface formats (core::InterfaceFormat): only an ifIndex is `input`/`output`; else
// `<member>_format` and, for discarded and multiple, `<member>_value`, in canonical order.
TEST(ReportBuilder, InterfaceFormatsReplaceTheInterfaceMember) {
  FlowRecord f = first_flow();
  f.fields = core::kInterfaces;
  f.input = 0x3fffffff;
  f.input_format = core::InterfaceFormat::internal;
  f.output = 7;
  f.output_format = core::InterfaceFormat::multiple;
  std::string report = build(f);
  EXPECT_EQ(nlohmann::json::parse(report).dump(), report) << "canonical: keys sorted";
  const auto d = nlohmann::json::parse(report)["flowdata"]["data"];
  EXPECT_FALSE(d.contains("input"));
  EXPECT_FALSE(d.contains("input_value"));
  EXPECT_EQ(d["input_format"], "internal");
  EXPECT_FALSE(d.contains("output"));
  EXPECT_EQ(d["output_format"], "multiple");
  EXPECT_EQ(d["output_value"], 7);
  f.output_format = core::InterfaceFormat::discarded;
  f.output = 258;  // ACL
  report = build(f);
  EXPECT_EQ(nlohmann::json::parse(report).dump(), report);
  EXPECT_EQ(nlohmann::json::parse(report)["flowdata"]["data"]["output_format"], "discarded");
  EXPECT_EQ(nlohmann::json::parse(report)["flowdata"]["data"]["output_value"], 258);
}
