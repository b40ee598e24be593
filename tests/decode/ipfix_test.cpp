// IPFIX (RFC 7011) decoding, on messages written by hand after the RFC's layouts and its appendix A
// examples (template 256: sourceIPv4Address, destinationIPv4Address, ipNextHopIPv4Address,
// packetDeltaCount, octetDeltaCount; data records 5009/5344385, 748/388934, 5/6534).
#include "decode/ipfix.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "decode/dispatch.hpp"
#include "decode/export_builder.hpp"

namespace overflowd {
namespace {

using core::Errc;
using core::Field;
using core::FlowRecord;
using core::Protocol;
using test::Builder;
using test::ip;
using test::ipfix_header;

constexpr std::int64_t kExportMs = 1'700'000'000'000;
constexpr std::uint64_t kNtpUnixOffset = 2'208'988'800;

void rfc_template(Builder& b) {
  b.begin_set(2).u16(256).u16(5);
  b.field(8, 4).field(12, 4).field(15, 4).field(2, 4).field(1, 4);
  b.end_set();
}

void rfc_data(Builder& b) {
  b.begin_set(256);
  b.ipv4("192.0.2.12").ipv4("192.0.2.254").ipv4("192.0.2.1").u32(5009).u32(5344385);
  b.ipv4("192.0.2.27").ipv4("192.0.2.23").ipv4("192.0.2.2").u32(748).u32(388934);
  b.ipv4("192.0.2.56").ipv4("192.0.2.65").ipv4("192.0.2.3").u32(5).u32(6534);
  b.end_set();
}

std::uint64_t rejected(const decode::Dispatcher& d, Errc e) {
  return d.counters().rejected_count(Protocol::ipfix, e);
}

// One message with a template set (one template) and a data set of one record.
std::vector<FlowRecord> decode_one(Builder& b, decode::Dispatcher& d) {
  std::vector<FlowRecord> out;
  b.end_message();
  const auto r = d.decode(b.datagram(), out);
  EXPECT_TRUE(r) << (r ? "" : r.error().describe());
  return out;
}

TEST(Ipfix, TemplateThenDataGivesTheRfcExampleRecords) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder t = ipfix_header(33);
  rfc_template(t);
  t.end_message();
  ASSERT_EQ(d.decode(t.datagram(), out).value(), 0u);

  Builder m = ipfix_header(33);
  rfc_data(m);
  m.end_message();
  ASSERT_EQ(d.decode(m.datagram(), out).value(), 3u);
  EXPECT_EQ(out[0].src, ip("192.0.2.12"));
  EXPECT_EQ(out[0].dst, ip("192.0.2.254"));
  EXPECT_EQ(out[0].nexthop, ip("192.0.2.1"));
  EXPECT_EQ(out[0].pcount, 5009u);
  EXPECT_EQ(out[0].bcount, 5344385u);
  EXPECT_EQ(out[1].pcount, 748u);
  EXPECT_EQ(out[1].bcount, 388934u);
  EXPECT_EQ(out[2].pcount, 5u);
  EXPECT_EQ(out[2].bcount, 6534u);
  for (const FlowRecord& f : out) {
    EXPECT_EQ(f.source_type, core::SourceType::ipfix);
    EXPECT_EQ(f.source_version, 10);
    EXPECT_EQ(f.sampling_interval, 1u);
    EXPECT_EQ(f.fields, Field::kSrcAddr | Field::kDstAddr | Field::kNextHop | Field::kPackets | Field::kBytes);
  }
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

TEST(Ipfix, DataBeforeItsTemplateIsCountedWithItsContextAndDropped) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder m = ipfix_header(33);
  rfc_data(m);
  m.end_message();
  ASSERT_EQ(d.decode(m.datagram(), out).value(), 0u);
  EXPECT_EQ(rejected(d, Errc::unknown_template), 1u);
  const core::Error e = d.set_errors().kept()[0];
  EXPECT_EQ(e.version, 10);
  EXPECT_EQ(e.domain, 33u);
  EXPECT_EQ(e.template_id, 256);
  EXPECT_EQ(e.offset, 16u);
  EXPECT_EQ(e.describe(), "v10 domain 33 template 256 unknown_template at offset 16");
}

TEST(Ipfix, ObservationDomainsKeepTheirOwnTemplates) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder t = ipfix_header(1);
  rfc_template(t);
  t.end_message();
  ASSERT_TRUE(d.decode(t.datagram(), out));
  Builder m = ipfix_header(2);
  rfc_data(m);
  m.end_message();
  EXPECT_EQ(d.decode(m.datagram(), out).value(), 0u);
  // A NetFlow v9 source id 1 of the same exporter does not share IPFIX domain 1's templates.
  Builder v9 = test::v9_header(1);
  v9.begin_set(256).ipv4("192.0.2.1").ipv4("192.0.2.2").ipv4("192.0.2.3").u32(1).u32(1).end_set();
  EXPECT_EQ(d.decode(v9.datagram(), out).value(), 0u);
  EXPECT_EQ(d.counters().rejected_count(Protocol::netflow_v9, Errc::unknown_template), 1u);
}

TEST(Ipfix, WithdrawalOfOneTemplate) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder t = ipfix_header(1);
  rfc_template(t);
  t.begin_set(2).u16(257).u16(1).field(8, 4).end_set();
  t.end_message();
  ASSERT_TRUE(d.decode(t.datagram(), out));
  ASSERT_EQ(d.templates().template_count(), 2u);

  Builder w = ipfix_header(1);
  w.begin_set(2).u16(256).u16(0).end_set();  // RFC 7011 8.1: field count 0 withdraws template 256
  rfc_data(w);
  w.begin_set(257).ipv4("192.0.2.9").end_set();
  w.end_message();
  ASSERT_EQ(d.decode(w.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].src, ip("192.0.2.9"));
  EXPECT_EQ(rejected(d, Errc::unknown_template), 1u);
  EXPECT_EQ(d.templates().template_count(), 1u);
}

TEST(Ipfix, WithdrawalOfAllTemplatesKeepsTheOtherKind) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder t = ipfix_header(1);
  rfc_template(t);
  t.begin_set(2).u16(257).u16(1).field(8, 4).end_set();
  t.begin_set(3).u16(258).u16(2).u16(1).field(302, 4).field(34, 4).end_set();
  t.end_message();
  ASSERT_TRUE(d.decode(t.datagram(), out));
  ASSERT_EQ(d.templates().template_count(), 3u);

  Builder w = ipfix_header(1);
  w.begin_set(2).u16(2).u16(0).end_set();  // template id = set id 2: all data templates
  w.end_message();
  ASSERT_TRUE(d.decode(w.datagram(), out));
  EXPECT_EQ(d.templates().template_count(), 1u);
  const decode::DomainKey key{ip("192.0.2.1"), 1, 10};
  EXPECT_NE(d.templates().find_template(key, 258), nullptr);

  Builder w3 = ipfix_header(1);
  w3.begin_set(3).u16(3).u16(0).end_set();  // all options templates
  w3.end_message();
  ASSERT_TRUE(d.decode(w3.datagram(), out));
  EXPECT_EQ(d.templates().template_count(), 0u);
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

TEST(Ipfix, RedefinitionReplacesAndRefreshKeepsTheTemplate) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder t = ipfix_header(1);
  rfc_template(t);
  rfc_template(t);  // refresh: identical
  t.end_message();
  ASSERT_TRUE(d.decode(t.datagram(), out));
  EXPECT_EQ(d.templates().template_count(), 1u);

  Builder r = ipfix_header(1);
  r.begin_set(2).u16(256).u16(2).field(7, 2).field(11, 2).end_set();
  r.begin_set(256).u16(53).u16(40000).end_set();
  r.end_message();
  ASSERT_EQ(d.decode(r.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].sport, 53);
  EXPECT_EQ(out[0].dport, 40000);
  EXPECT_EQ(out[0].fields, Field::kPorts);
  EXPECT_EQ(d.templates().template_count(), 1u);
}

// An options template (RFC 7011 3.4.2.2) scoped by selectorId, with samplingPacketInterval/Space.
TEST(Ipfix, OptionsDataSetsTheIntervalOfEachSelector) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(3).u16(258).u16(3).u16(1).field(302, 8).field(305, 4).field(306, 4).end_set();
  b.begin_set(258);
  b.u64(1).u32(1).u32(99);  // 1 selected, 99 skipped: 1 in 100
  b.u64(2).u32(2).u32(3);   // 2 selected, 3 skipped: 5 / 2 = 2.5, rounded to 3
  b.u64(3).u32(10).u32(0);  // every packet: 1
  b.end_set();
  b.begin_set(2).u16(256).u16(2).field(8, 4).field(302, 8).end_set();
  b.begin_set(256).ipv4("192.0.2.1").u64(1).ipv4("192.0.2.2").u64(2).ipv4("192.0.2.3").u64(3).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].sampling_interval, 100u);
  EXPECT_EQ(out[1].sampling_interval, 3u);
  EXPECT_EQ(out[2].sampling_interval, 1u);
}

TEST(Ipfix, SamplerIdAndRandomIntervalInOptionsData) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // scope samplerId (48), then samplerRandomInterval (50) in reduced size (2 bytes).
  b.begin_set(3).u16(259).u16(2).u16(1).field(48, 1).field(50, 2).end_set();
  b.begin_set(259).u8(4).u16(2048).end_set(4);
  b.begin_set(2).u16(256).u16(2).field(8, 4).field(48, 1).end_set();
  b.begin_set(256).ipv4("192.0.2.1").u8(4).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sampling_interval, 2048u);
}

TEST(Ipfix, SamplingIntervalInOptionsDataWithoutScopeIdAppliesToTheDomain) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // scope: observationDomainId (149); option: samplingInterval (34)
  b.begin_set(3).u16(259).u16(2).u16(1).field(149, 4).field(34, 4).end_set();
  b.begin_set(259).u32(1).u32(4096).end_set();
  rfc_template(b);
  rfc_data(b);
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 3u);
  for (const FlowRecord& f : out) EXPECT_EQ(f.sampling_interval, 4096u);
}

TEST(Ipfix, SamplingPacketIntervalInADataRecord) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(8, 4).field(305, 2).end_set();
  b.begin_set(256).ipv4("192.0.2.1").u16(10).end_set(4);
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sampling_interval, 10u);
}

TEST(Ipfix, VariableLengthFieldsAreSkippedInBothForms) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // interfaceName (82, string) variable, sourceIPv4Address, applicationName (96) variable, dst
  b.begin_set(2).u16(256).u16(4).field(82, 65535).field(8, 4).field(96, 65535).field(12, 4).end_set();
  b.begin_set(256);
  b.u8(4).text("eth0").ipv4("192.0.2.1").u8(255).u16(300).text(std::string(300, 'x')).ipv4("192.0.2.2");
  b.u8(0).ipv4("192.0.2.3").u8(0).ipv4("192.0.2.4");  // empty values
  b.end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].src, ip("192.0.2.1"));
  EXPECT_EQ(out[0].dst, ip("192.0.2.2"));
  EXPECT_EQ(out[1].src, ip("192.0.2.3"));
  EXPECT_EQ(out[1].dst, ip("192.0.2.4"));
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

TEST(Ipfix, VariableLengthRecordRunningPastTheSetIsTruncated) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(8, 4).field(82, 65535).end_set();
  b.begin_set(256);
  b.ipv4("192.0.2.1").u8(2).text("ok");
  b.ipv4("192.0.2.2").u8(200).text("short");  // says 200 bytes, the set has 5
  b.end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, ip("192.0.2.1"));
  EXPECT_EQ(rejected(d, Errc::truncated_records), 1u);
}

TEST(Ipfix, VariableLengthRecordOverTheCapIsRecordLimit) {
  decode::TemplateCacheLimits limits;
  limits.max_record_length = 64;
  decode::Dispatcher d(limits);
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(8, 4).field(82, 65535).end_set();
  b.begin_set(256);
  b.ipv4("192.0.2.1").u8(10).text(std::string(10, 'a'));
  b.ipv4("192.0.2.2").u8(100).text(std::string(100, 'b'));  // 105 bytes > 64
  b.end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(rejected(d, Errc::record_limit), 1u);
}

TEST(Ipfix, EnterpriseFieldsAreSkippedEvenWithAStandardId) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(4);
  b.enterprise_field(8, 4, 9);         // enterprise 9, element 8: not sourceIPv4Address
  b.field(12, 4);
  b.enterprise_field(1, 65535, 29305); // variable-length enterprise field
  b.field(2, 4);
  b.end_set();
  b.begin_set(256).ipv4("10.0.0.1").ipv4("192.0.2.2").u8(3).text("abc").u32(77).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].has(Field::kSrcAddr));
  EXPECT_EQ(out[0].dst, ip("192.0.2.2"));
  EXPECT_EQ(out[0].pcount, 77u);
  EXPECT_FALSE(out[0].has(Field::kBytes));
}

TEST(Ipfix, Ipv6RecordWithIcmpTypeAndCodeElements) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(7);
  b.field(27, 16).field(28, 16).field(4, 1).field(178, 1).field(179, 1).field(29, 1).field(63, 16);
  b.end_set();
  b.begin_set(256).ipv6("2001:db8::10").ipv6("2001:db8::20").u8(58).u8(1).u8(4).u8(56).ipv6("2001:db8::1");
  b.end_set(4);
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, ip("2001:db8::10"));
  EXPECT_EQ(out[0].dst, ip("2001:db8::20"));
  EXPECT_EQ(out[0].icmp_type, 1);
  EXPECT_EQ(out[0].icmp_code, 4);
  EXPECT_EQ(out[0].src_mask, 56);
  EXPECT_EQ(out[0].nexthop, ip("2001:db8::1"));  // bgpNextHopIPv6Address as the fallback
  EXPECT_TRUE(out[0].has(Field::kIcmp));
  EXPECT_TRUE(out[0].has(Field::kMasks));
}

TEST(Ipfix, IpNextHopWinsOverBgpNextHopAndDscpFillsTos) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(3).field(15, 4).field(18, 4).field(195, 1).end_set();
  b.begin_set(2).u16(257).u16(3).field(18, 4).field(15, 4).field(5, 1).end_set();
  b.begin_set(256).ipv4("192.0.2.1").ipv4("192.0.2.2").u8(46).end_set(4);
  b.begin_set(257).ipv4("192.0.2.2").ipv4("192.0.2.1").u8(0x20).end_set(4);
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].nexthop, ip("192.0.2.1"));
  EXPECT_EQ(out[0].tos, 46 << 2);  // DSCP EF
  EXPECT_EQ(out[1].nexthop, ip("192.0.2.1"));
  EXPECT_EQ(out[1].tos, 0x20);
}

TEST(Ipfix, ReducedSizeEncoding) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(6).field(1, 3).field(2, 1).field(10, 2).field(6, 2).field(85, 5).field(16, 1);
  b.end_set();
  b.begin_set(256).u24(0x123456).u8(200).u16(7).u16(0x0fff).be(0x01'0000'0000ull, 5).u8(65).end_set(4);
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bcount, 0x123456u);  // octetDeltaCount wins over octetTotalCount
  EXPECT_EQ(out[0].pcount, 200u);
  EXPECT_EQ(out[0].input, 7u);
  EXPECT_EQ(out[0].tcp_flags, 0xff);
  EXPECT_EQ(out[0].src_as, 65u);
  EXPECT_EQ(out[0].output, 0u);
}

TEST(Ipfix, TotalCountsAreUsedWithoutDeltaCounts) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(85, 8).field(86, 8).end_set();
  b.begin_set(256).u64(123456789012ull).u64(1000).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bcount, 123456789012ull);
  EXPECT_EQ(out[0].pcount, 1000u);
  EXPECT_EQ(out[0].fields, Field::kBytes | Field::kPackets);
}

// ---- every time form ----

struct TimeCase {
  const char* name;
  std::uint16_t start_id, end_id, length;
  std::uint64_t start, end;
  std::int64_t stime_ms, etime_ms;
};

TEST(Ipfix, EveryAbsoluteAndDeltaTimeForm) {
  const std::uint64_t ntp_s = 1'700'000'000ull + kNtpUnixOffset;
  const TimeCase cases[] = {
      {"seconds 150/151", 150, 151, 4, 1'699'999'990, 1'699'999'999, kExportMs - 10'000, kExportMs - 1000},
      {"milliseconds 152/153", 152, 153, 8, 1'699'999'990'123ull, 1'699'999'999'456ull, kExportMs - 9'877,
       kExportMs - 544},
      // NTP: seconds since 1900 in the high word, 2^-32 fractions below: 0.5 s and 0.25 s
      {"microseconds 154/155", 154, 155, 8, ((ntp_s - 5) << 32) | 0x80000000u, (ntp_s << 32) | 0x40000000u,
       kExportMs - 4500, kExportMs + 250},
      {"nanoseconds 156/157", 156, 157, 8, ((ntp_s - 1) << 32) | 0x00418938u, (ntp_s << 32), kExportMs - 999,
       kExportMs},
      // microseconds before the export time
      {"delta 158/159", 158, 159, 4, 2'500'000, 1'000, kExportMs - 2500, kExportMs - 1},
  };
  for (const TimeCase& c : cases) {
    decode::Dispatcher d;
    Builder b = ipfix_header(1);
    b.begin_set(2).u16(256).u16(2).field(c.start_id, c.length).field(c.end_id, c.length).end_set();
    b.begin_set(256).be(c.start, c.length).be(c.end, c.length).end_set();
    const auto out = decode_one(b, d);
    ASSERT_EQ(out.size(), 1u) << c.name;
    EXPECT_EQ(out[0].stime_ms, c.stime_ms) << c.name;
    EXPECT_EQ(out[0].etime_ms, c.etime_ms) << c.name;
    EXPECT_EQ(out[0].fields, Field::kTimes) << c.name;
  }
}

TEST(Ipfix, SysUpTimeWithSystemInitTimeInTheRecord) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(3).field(22, 4).field(21, 4).field(160, 8).end_set();
  b.begin_set(256).u32(5000).u32(9000).u64(1'699'000'000'000ull).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].stime_ms, 1'699'000'005'000);
  EXPECT_EQ(out[0].etime_ms, 1'699'000'009'000);
}

TEST(Ipfix, SysUpTimeWithSystemInitTimeFromOptionsData) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(22, 4).field(21, 4).end_set();
  b.begin_set(256).u32(1).u32(2).end_set();  // before the init time is known: no times
  b.begin_set(3).u16(300).u16(2).u16(1).field(149, 4).field(160, 8).end_set();
  b.begin_set(300).u32(1).u64(1'600'000'000'000ull).end_set();
  b.begin_set(256).u32(1000).u32(61'000).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].has(Field::kTimes));
  EXPECT_EQ(out[1].stime_ms, 1'600'000'001'000);
  EXPECT_EQ(out[1].etime_ms, 1'600'000'061'000);
  EXPECT_TRUE(out[1].has(Field::kTimes));
}

TEST(Ipfix, StartWithDurationGivesTheEnd) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(152, 8).field(161, 4).end_set();
  b.begin_set(2).u16(257).u16(1).field(153, 8).end_set();
  b.begin_set(256).u64(1'699'999'000'000ull).u32(1500).end_set();
  b.begin_set(257).u64(1'699'999'000'000ull).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].stime_ms, 1'699'999'000'000);
  EXPECT_EQ(out[0].etime_ms, 1'699'999'001'500);
  EXPECT_EQ(out[1].stime_ms, 1'699'999'000'000);  // only the end: start = end
  EXPECT_EQ(out[1].etime_ms, 1'699'999'000'000);
}

TEST(Ipfix, AbsoluteTimeWinsOverUptimeWhateverTheOrder) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(4).field(152, 8).field(22, 4).field(160, 8).field(153, 8).end_set();
  b.begin_set(256).u64(1'699'999'000'000ull).u32(7).u64(1'000'000'000'000ull).u64(1'699'999'500'000ull).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].stime_ms, 1'699'999'000'000);
  EXPECT_EQ(out[0].etime_ms, 1'699'999'500'000);
}

TEST(Ipfix, AbsurdTimesSaturateInsteadOfOverflowing) {
  // Found by fuzzing (UBSan: signed overflow): times an exporter sends can be any 64-bit value.
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(152, 8).field(161, 4).end_set();
  b.begin_set(2).u16(257).u16(2).field(22, 4).field(160, 8).end_set();
  b.begin_set(2).u16(258).u16(2).field(153, 8).field(162, 4).end_set();
  b.begin_set(256).u64(~0ull).u32(5000).end_set();
  b.begin_set(257).u32(10).u64(0x7fffffffffffffffull).end_set();
  b.begin_set(258).u64(0).u32(4'000'000'000u).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 3u);
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(out[0].stime_ms, kMax);
  EXPECT_EQ(out[0].etime_ms, kMax);
  EXPECT_EQ(out[1].stime_ms, kMax);
  EXPECT_EQ(out[2].etime_ms, 0);
  EXPECT_EQ(out[2].stime_ms, -4'000'000);  // 4e9 microseconds before the epoch: representable
}

// ---- padding and malformed input ----

TEST(Ipfix, SetPaddingIsAccepted) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(3).field(8, 4).field(4, 1).field(6, 1).end_set();
  b.begin_set(256).ipv4("192.0.2.1").u8(6).u8(2).ipv4("192.0.2.2").u8(17).u8(0).end_set(8);  // 12+4 -> pad 0
  b.begin_set(256).ipv4("192.0.2.3").u8(1).u8(0).end_set(4);  // 10 bytes + 2 of padding
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].protocol, 1);
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

TEST(Ipfix, MessageLengthMustFitTheDatagram) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = ipfix_header(1);
  rfc_template(b);
  b.end_message();
  b.patch16(2, b.size() + 1);
  auto r = d.decode(b.datagram(), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::bad_message_length);
  b.patch16(2, 15);
  r = d.decode(b.datagram(), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::bad_message_length);
  EXPECT_EQ(rejected(d, Errc::bad_message_length), 2u);
  EXPECT_EQ(d.templates().template_count(), 0u);
}

TEST(Ipfix, BytesAfterTheMessageAreCountedAndTheMessageDecoded) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = ipfix_header(1);
  rfc_template(b);
  rfc_data(b);
  b.end_message();
  b.u32(0xdeadbeef);
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 3u);
  EXPECT_EQ(rejected(d, Errc::trailing_bytes), 1u);
}

TEST(Ipfix, SetsMustFillTheMessage) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = ipfix_header(1);
  rfc_template(b);
  rfc_data(b);
  b.u16(0);  // 2 bytes that are no set
  b.end_message();
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 3u);
  EXPECT_EQ(rejected(d, Errc::bad_set_length), 1u);
}

TEST(Ipfix, SetLengthUnderFourOrPastTheMessage) {
  for (int length : {0, 2, 200}) {
    decode::Dispatcher d;
    std::vector<FlowRecord> out;
    Builder b = ipfix_header(1);
    rfc_template(b);
    rfc_data(b);
    b.u16(256).u16(static_cast<std::uint64_t>(length)).zeros(12);
    b.end_message();
    EXPECT_EQ(d.decode(b.datagram(), out).value(), 3u) << length;
    EXPECT_EQ(rejected(d, Errc::bad_set_length), 1u) << length;
  }
}

TEST(Ipfix, TemplateFieldSpecifiersPastTheSetAreBadTemplate) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(3).field(8, 4).field(12, 4).end_set();  // 3 declared, 2 present
  // An enterprise field specifier whose enterprise number is cut off by the end of the set.
  b.begin_set(2).u16(257).u16(1).u16(0x8000 | 8).u16(4).end_set();
  rfc_template(b);  // later sets are still read
  rfc_data(b);
  const auto out = decode_one(b, d);
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(rejected(d, Errc::bad_template), 2u);
  EXPECT_EQ(d.set_errors().kept()[0].template_id, 256);
  EXPECT_EQ(d.set_errors().kept()[1].template_id, 257);
  EXPECT_EQ(d.templates().template_count(), 1u);
}

// A field of length 0 is skipped (see NetflowV9.ZeroLengthTemplateFieldIsSkipped); a template of
// only such fields is bad_template.
TEST(Ipfix, AllZeroLengthFieldsAndBadOptionsScopeAreBadTemplate) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(8, 0).field(12, 0).end_set();
  b.begin_set(3).u16(257).u16(2).u16(0).field(302, 4).field(34, 4).end_set();  // scope count 0
  b.begin_set(3).u16(258).u16(1).u16(2).field(302, 4).end_set();               // scope > fields
  b.begin_set(2).u16(100).u16(1).field(8, 4).end_set();                        // id < 256
  b.begin_set(2).u16(5).u16(0).end_set();  // withdrawal of id 5: neither a set id nor >= 256
  std::vector<FlowRecord> out;
  b.end_message();
  ASSERT_TRUE(d.decode(b.datagram(), out));
  EXPECT_EQ(rejected(d, Errc::bad_template), 5u);
  EXPECT_EQ(d.templates().template_count(), 0u);
}

TEST(Ipfix, ReservedSetIdsAreSkipped) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(0).u32(1).end_set();
  b.begin_set(4).u32(1).end_set();
  rfc_template(b);
  rfc_data(b);
  const auto out = decode_one(b, d);
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(d.counters().skipped[static_cast<std::size_t>(Protocol::ipfix)], 2u);
}

TEST(Ipfix, TemplateFloodOverTheCapsIsCountedAndRefused) {
  decode::TemplateCacheLimits limits;
  limits.max_templates_per_domain = 8;
  limits.max_templates = 12;
  limits.max_domains = 2;
  limits.max_fields_per_template = 4;
  limits.max_record_length = 32;
  decode::Dispatcher d(limits);
  std::vector<FlowRecord> out;
  for (std::uint32_t domain = 1; domain <= 3; ++domain) {
    Builder b = ipfix_header(domain);
    b.begin_set(2);
    for (std::uint16_t id = 256; id < 256 + 10; ++id) b.u16(id).u16(1).field(8, 4);
    b.end_set();
    b.end_message();
    ASSERT_TRUE(d.decode(b.datagram(), out));
  }
  // domain 1: 8 kept, 2 over the per-domain cap; domain 2: 4 more reach the global cap of 12, 6
  // refused; domain 3: all 10 refused by the domain cap (checked first; nothing is evicted, as the
  // only exporter is the one asking).
  EXPECT_EQ(d.templates().template_count(), 12u);
  EXPECT_EQ(d.templates().domain_count(), 2u);
  EXPECT_EQ(rejected(d, Errc::template_limit), 2u + 6u);
  EXPECT_EQ(rejected(d, Errc::exporter_limit), 10u);
  EXPECT_EQ(d.templates().evicted_domains(), 0u);

  Builder e = ipfix_header(1);
  e.begin_set(2).u16(256).u16(5);
  for (int i = 0; i < 5; ++i) e.field(8, 4);
  e.u16(257).u16(2).field(82, 30).field(83, 3);  // 33 bytes per record > 32
  e.end_set();
  e.end_message();
  ASSERT_TRUE(d.decode(e.datagram(), out));
  EXPECT_EQ(rejected(d, Errc::field_limit), 1u);
  EXPECT_EQ(rejected(d, Errc::record_limit), 1u);
}

TEST(Ipfix, ExporterCapRefusesNewDomains) {
  decode::TemplateCacheLimits limits;
  limits.max_domains = 2;
  decode::Dispatcher d(limits);
  std::vector<FlowRecord> out;
  for (std::uint32_t domain = 1; domain <= 4; ++domain) {
    Builder b = ipfix_header(domain);
    rfc_template(b);
    b.end_message();
    ASSERT_TRUE(d.decode(b.datagram(), out));
  }
  EXPECT_EQ(d.templates().domain_count(), 2u);
  EXPECT_EQ(rejected(d, Errc::exporter_limit), 2u);
}

}  // namespace
}  // namespace overflowd
