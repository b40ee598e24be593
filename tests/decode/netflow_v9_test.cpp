// NetFlow v9 (RFC 3954) decoding, on datagrams written by hand after the RFC's layouts and the
// examples of its sections 5 and 8 (template 256: IPV4_SRC_ADDR, IPV4_DST_ADDR, IPV4_NEXT_HOP,
// IN_PKTS, IN_BYTES).
#include "decode/netflow_v9.hpp"

#include <gtest/gtest.h>

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
using test::v9_header;

constexpr std::int64_t kExportMs = 1'700'000'000'000;

// Template FlowSet of RFC 3954 section 8: template 256 with five 4-byte fields.
void rfc_template(Builder& b) {
  b.begin_set(0).u16(256).u16(5);
  b.field(8, 4).field(12, 4).field(15, 4).field(2, 4).field(1, 4);
  b.end_set();
}

// Its data FlowSet: three records.
void rfc_data(Builder& b) {
  b.begin_set(256);
  b.ipv4("198.51.100.12").ipv4("203.0.113.254").ipv4("198.51.100.1").u32(5009).u32(5344385);
  b.ipv4("198.51.100.27").ipv4("203.0.113.23").ipv4("198.51.100.2").u32(748).u32(388934);
  b.ipv4("198.51.100.56").ipv4("203.0.113.65").ipv4("198.51.100.3").u32(5).u32(6534);
  b.end_set(4);
}

std::uint64_t rejected(const decode::Dispatcher& d, Errc e) {
  return d.counters().rejected_count(Protocol::netflow_v9, e);
}

TEST(NetflowV9, TemplateThenDataGivesTheRfcExampleRecords) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder t = v9_header(7);
  rfc_template(t);
  ASSERT_EQ(d.decode(t.datagram(), out).value(), 0u);
  EXPECT_EQ(d.templates().template_count(), 1u);

  Builder data = v9_header(7, 100'000, 1'700'000'000, 3);
  rfc_data(data);
  ASSERT_EQ(d.decode(data.datagram(), out).value(), 3u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].src, ip("198.51.100.12"));
  EXPECT_EQ(out[0].dst, ip("203.0.113.254"));
  EXPECT_EQ(out[0].nexthop, ip("198.51.100.1"));
  EXPECT_EQ(out[0].pcount, 5009u);
  EXPECT_EQ(out[0].bcount, 5344385u);
  EXPECT_EQ(out[1].src, ip("198.51.100.27"));
  EXPECT_EQ(out[1].pcount, 748u);
  EXPECT_EQ(out[1].bcount, 388934u);
  EXPECT_EQ(out[2].dst, ip("203.0.113.65"));
  EXPECT_EQ(out[2].bcount, 6534u);
  for (const FlowRecord& f : out) {
    EXPECT_EQ(f.source_type, core::SourceType::netflow);
    EXPECT_EQ(f.source_version, 9);
    EXPECT_EQ(f.exporter, ip("192.0.2.1"));
    EXPECT_EQ(f.sampling_interval, 1u);
    // Only what the template carries: no ports, protocol, times, interfaces...
    EXPECT_EQ(f.fields, Field::kSrcAddr | Field::kDstAddr | Field::kNextHop | Field::kPackets | Field::kBytes);
  }
  EXPECT_EQ(d.counters().records[static_cast<std::size_t>(Protocol::netflow_v9)], 3u);
  EXPECT_EQ(d.counters().datagrams[static_cast<std::size_t>(Protocol::netflow_v9)], 2u);
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

TEST(NetflowV9, TemplateAndDataInOneDatagram) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(7, 100'000, 1'700'000'000, 4);
  rfc_template(b);
  rfc_data(b);
  EXPECT_EQ(d.decode(b.datagram(), out).value(), 3u);
}

TEST(NetflowV9, DataBeforeItsTemplateIsCountedAndDropped) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder data = v9_header(7);
  rfc_data(data);
  ASSERT_EQ(d.decode(data.datagram(), out).value(), 0u);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(rejected(d, Errc::unknown_template), 1u);
  ASSERT_EQ(d.set_errors().kept().size(), 1u);
  const core::Error e = d.set_errors().kept()[0];
  EXPECT_EQ(e.code, Errc::unknown_template);
  EXPECT_EQ(e.version, 9);
  EXPECT_EQ(e.domain, 7u);
  EXPECT_EQ(e.template_id, 256);
  EXPECT_EQ(e.offset, 20u);

  // Once the template has come, the same data decodes: nothing was buffered, nothing replayed.
  Builder t = v9_header(7);
  rfc_template(t);
  ASSERT_TRUE(d.decode(t.datagram(), out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.decode(data.datagram(), out).value(), 3u);
}

TEST(NetflowV9, TemplatesAreKeptPerSourceIdAndExporter) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder t = v9_header(7);
  rfc_template(t);
  ASSERT_TRUE(d.decode(t.datagram("192.0.2.1"), out));

  Builder other_source = v9_header(8);
  rfc_data(other_source);
  EXPECT_EQ(d.decode(other_source.datagram("192.0.2.1"), out).value(), 0u);
  Builder same_source = v9_header(7);
  rfc_data(same_source);
  EXPECT_EQ(d.decode(same_source.datagram("192.0.2.2"), out).value(), 0u);
  EXPECT_EQ(rejected(d, Errc::unknown_template), 2u);
  EXPECT_EQ(d.decode(same_source.datagram("192.0.2.1"), out).value(), 3u);
}

// Every mapped field, in v9's default widths (2-byte interfaces and AS numbers, 1-byte flags).
TEST(NetflowV9, EveryMappedFieldReachesTheFlowRecord) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1, /*sys_uptime=*/100'000, /*unix_secs=*/1'700'000'000);
  b.begin_set(0).u16(300).u16(19);
  b.field(8, 4).field(12, 4).field(7, 2).field(11, 2).field(4, 1).field(6, 1).field(5, 1);
  b.field(10, 2).field(14, 2).field(15, 4).field(16, 2).field(17, 2).field(9, 1).field(13, 1);
  b.field(22, 4).field(21, 4).field(2, 4).field(1, 4).field(32, 2);
  b.end_set();
  b.begin_set(300);
  b.ipv4("198.51.100.7").ipv4("203.0.113.9").u16(51000).u16(443).u8(6).u8(0x1b).u8(0xb8);
  b.u16(3).u16(5).ipv4("198.51.100.254").u16(64500).u16(64501).u8(24).u8(16);
  b.u32(90'000).u32(99'500).u32(12).u32(3400).u16(0x0301);
  b.end_set(4);
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  const FlowRecord& f = out.at(0);
  EXPECT_EQ(f.src, ip("198.51.100.7"));
  EXPECT_EQ(f.dst, ip("203.0.113.9"));
  EXPECT_EQ(f.sport, 51000);
  EXPECT_EQ(f.dport, 443);
  EXPECT_EQ(f.protocol, 6);
  EXPECT_EQ(f.tcp_flags, 0x1b);
  EXPECT_EQ(f.tos, 0xb8);
  EXPECT_EQ(f.input, 3u);
  EXPECT_EQ(f.output, 5u);
  EXPECT_EQ(f.nexthop, ip("198.51.100.254"));
  EXPECT_EQ(f.src_as, 64500u);
  EXPECT_EQ(f.dst_as, 64501u);
  EXPECT_EQ(f.src_mask, 24);
  EXPECT_EQ(f.dst_mask, 16);
  // FIRST/LAST_SWITCHED are sysUpTime ms: 10 s and 0.5 s before the header's sysUpTime.
  EXPECT_EQ(f.stime_ms, kExportMs - 10'000);
  EXPECT_EQ(f.etime_ms, kExportMs - 500);
  EXPECT_EQ(f.pcount, 12u);
  EXPECT_EQ(f.bcount, 3400u);
  EXPECT_EQ(f.icmp_type, 3);
  EXPECT_EQ(f.icmp_code, 1);
  // kIcmp is read but not kept: this is a TCP flow (see IcmpTypeAndCodeOnlyOnIcmpFlows).
  EXPECT_EQ(f.fields, Field::kSrcAddr | Field::kDstAddr | Field::kPorts | Field::kProtocol | Field::kTcpFlags |
                          Field::kTos | Field::kInterfaces | Field::kNextHop | Field::kAsNumbers |
                          Field::kMasks | Field::kTimes | Field::kPackets | Field::kBytes);
}

TEST(NetflowV9, UptimeStampsBeforeAWrapOfSysUpTimeLandBeforeTheExport) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  // sysUpTime wrapped to 1000 ms; the flow started 4096 ms before the wrap.
  Builder b = v9_header(1, /*sys_uptime=*/1000);
  b.begin_set(0).u16(256).u16(2).field(22, 4).field(21, 4).end_set();
  b.begin_set(256).u32(0xfffff000u).u32(500).end_set();
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].stime_ms, kExportMs - 1000 - 4096);
  EXPECT_EQ(out[0].etime_ms, kExportMs - 500);
  EXPECT_TRUE(out[0].has(Field::kTimes));
}

TEST(NetflowV9, IpfixAbsoluteTimeFieldsAreReadInV9Too) {
  // Some v9 exporters (nProbe, softflowd -A milli) send IPFIX's flowStart/EndMilliseconds.
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(3).field(152, 8).field(153, 8).field(22, 4).end_set();
  b.begin_set(256).u64(1'699'999'990'000ull).u64(1'699'999'995'000ull).u32(1).end_set();
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].stime_ms, 1'699'999'990'000);  // the absolute time wins over FIRST_SWITCHED
  EXPECT_EQ(out[0].etime_ms, 1'699'999'995'000);
}

TEST(NetflowV9, Ipv6RecordWithPrefixLengthsNextHopAndIcmpv6) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(260).u16(8);
  b.field(27, 16).field(28, 16).field(29, 1).field(30, 1).field(62, 16).field(4, 1).field(139, 2).field(2, 4);
  b.end_set();
  b.begin_set(260);
  b.ipv6("2001:db8::1").ipv6("2001:db8:1::2").u8(48).u8(64).ipv6("2001:db8::fe").u8(58).u16(0x8000).u32(3);
  b.end_set(4);
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  const FlowRecord& f = out[0];
  EXPECT_EQ(f.src, ip("2001:db8::1"));
  EXPECT_EQ(f.dst, ip("2001:db8:1::2"));
  EXPECT_EQ(f.src_mask, 48);
  EXPECT_EQ(f.dst_mask, 64);
  EXPECT_EQ(f.nexthop, ip("2001:db8::fe"));
  EXPECT_EQ(f.protocol, 58);
  EXPECT_EQ(f.icmp_type, 128);
  EXPECT_EQ(f.icmp_code, 0);
  EXPECT_EQ(f.pcount, 3u);
  EXPECT_FALSE(f.has(Field::kPorts));
  EXPECT_FALSE(f.has(Field::kBytes));
}

TEST(NetflowV9, WiderAndNarrowerIntegersAreReadAtTheirTemplateLength) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(7);
  b.field(1, 8).field(2, 8).field(10, 4).field(14, 4).field(16, 4).field(17, 4).field(6, 2);
  b.end_set();
  b.begin_set(256);
  b.u64(0x1'0000'0001ull).u64(0x2'0000'0000ull).u32(70000).u32(4'000'000'000u).u32(4200000000u).u32(65536);
  b.u16(0x0112);  // a 16-bit TCP flags field: only the low 8 bits are kept
  b.end_set(4);
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].bcount, 0x1'0000'0001ull);
  EXPECT_EQ(out[0].pcount, 0x2'0000'0000ull);
  EXPECT_EQ(out[0].input, 70000u);
  EXPECT_EQ(out[0].output, 4'000'000'000u);
  EXPECT_EQ(out[0].src_as, 4200000000u);
  EXPECT_EQ(out[0].dst_as, 65536u);
  EXPECT_EQ(out[0].tcp_flags, 0x12);
}

TEST(NetflowV9, OutCountsAreUsedOnlyWithoutInCounts) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(2).field(23, 4).field(24, 4).end_set();  // OUT_BYTES, OUT_PKTS
  b.begin_set(0).u16(257).u16(4).field(23, 4).field(1, 4).field(2, 4).field(24, 4).end_set();
  b.begin_set(256).u32(1000).u32(10).end_set();
  b.begin_set(257).u32(1000).u32(2000).u32(20).u32(10).end_set();
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 2u);
  EXPECT_EQ(out[0].bcount, 1000u);
  EXPECT_EQ(out[0].pcount, 10u);
  EXPECT_EQ(out[1].bcount, 2000u);
  EXPECT_EQ(out[1].pcount, 20u);
}

TEST(NetflowV9, UnknownFieldTypesAreSkippedWithTheirLength) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(4).field(8, 4).field(200, 3).field(40000, 5).field(12, 4).end_set();
  b.begin_set(256).ipv4("198.51.100.1").u24(0xffffff).zeros(5).ipv4("198.51.100.2").end_set(4);
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].src, ip("198.51.100.1"));
  EXPECT_EQ(out[0].dst, ip("198.51.100.2"));
  EXPECT_EQ(out[0].fields, Field::kSrcAddr | Field::kDstAddr);
}

TEST(NetflowV9, AnAddressOfTheWrongLengthIsSkippedNotMisread) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(2).field(8, 3).field(12, 4).end_set();
  b.begin_set(256).u24(0x010203).ipv4("198.51.100.2").end_set(4);
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  EXPECT_FALSE(out[0].has(Field::kSrcAddr));
  EXPECT_EQ(out[0].dst, ip("198.51.100.2"));
}

// RFC 3954 section 6: options template with scope System, and SAMPLING_INTERVAL per FLOW_SAMPLER_ID.
TEST(NetflowV9, OptionsDataSetsTheIntervalOfEachSamplerId) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(1).u16(257).u16(4).u16(12);  // scope length 4, option length 12
  b.field(1, 4);                            // scope: System
  b.field(48, 1).field(49, 1).field(34, 4);  // FLOW_SAMPLER_ID, FLOW_SAMPLER_MODE, SAMPLING_INTERVAL
  b.end_set(4);
  b.begin_set(257);
  b.u32(0).u8(1).u8(2).u32(100);
  b.u32(0).u8(2).u8(2).u32(1000);
  b.end_set(4);
  b.begin_set(0).u16(256).u16(3).field(8, 4).field(2, 4).field(48, 1).end_set();
  b.begin_set(256);
  b.ipv4("198.51.100.1").u32(1).u8(1);
  b.ipv4("198.51.100.2").u32(1).u8(2);
  b.ipv4("198.51.100.3").u32(1).u8(9);  // an id with no options data: the latest learned applies
  b.end_set(4);
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 3u);
  EXPECT_EQ(out[0].sampling_interval, 100u);
  EXPECT_EQ(out[1].sampling_interval, 1000u);
  EXPECT_EQ(out[2].sampling_interval, 1000u);
  // The scope field (type 1 = System) is not read as IN_BYTES; options records make no flows.
  EXPECT_EQ(out.size(), 3u);
}

TEST(NetflowV9, OptionsDataWithoutSamplerIdSetsTheSourceDefault) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder opt = v9_header(1);
  opt.begin_set(1).u16(257).u16(4).u16(4).field(1, 4).field(50, 4).end_set(4);  // FLOW_SAMPLER_RANDOM_INTERVAL
  opt.begin_set(257).u32(0).u32(512).end_set(4);
  ASSERT_TRUE(d.decode(opt.datagram(), out));
  Builder b = v9_header(1);
  rfc_template(b);
  rfc_data(b);
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 3u);
  for (const FlowRecord& f : out) EXPECT_EQ(f.sampling_interval, 512u);
  // Another source id of the same exporter learned nothing.
  Builder other = v9_header(2);
  rfc_template(other);
  rfc_data(other);
  out.clear();
  ASSERT_EQ(d.decode(other.datagram(), out).value(), 3u);
  EXPECT_EQ(out[0].sampling_interval, 1u);
}

TEST(NetflowV9, SamplingIntervalInsideADataRecordApplies) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(2).field(8, 4).field(34, 4).end_set();
  b.begin_set(256).ipv4("198.51.100.1").u32(64).end_set();
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].sampling_interval, 64u);
}

TEST(NetflowV9, RedefinitionReplacesTheTemplate) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder a = v9_header(1);
  rfc_template(a);
  ASSERT_TRUE(d.decode(a.datagram(), out));
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(2).field(12, 4).field(8, 4).end_set();  // same id, other fields
  b.begin_set(256).ipv4("203.0.113.1").ipv4("198.51.100.1").end_set();
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].dst, ip("203.0.113.1"));
  EXPECT_EQ(out[0].src, ip("198.51.100.1"));
  EXPECT_EQ(out[0].fields, Field::kSrcAddr | Field::kDstAddr);
  EXPECT_EQ(d.templates().template_count(), 1u);
}

TEST(NetflowV9, HeaderCountIsAdvisory) {
  for (std::uint16_t count : {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{99}}) {
    decode::Dispatcher d;
    std::vector<FlowRecord> out;
    Builder b = v9_header(1, 100'000, 1'700'000'000, count);
    rfc_template(b);
    rfc_data(b);
    EXPECT_EQ(d.decode(b.datagram(), out).value(), 3u) << count;
  }
}

TEST(NetflowV9, PaddingAfterRecordsIsAcceptedAndGarbageIsNot) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(1).field(8, 4).u16(0).end_set();  // 2 bytes of template padding
  b.begin_set(0).u16(257).u16(1).field(4, 1).end_set();
  b.begin_set(257).u8(6).u8(17).u8(1).end_set(4);  // 3 records of 1 byte, then 1 byte of padding
  b.begin_set(256).ipv4("198.51.100.1").zeros(3).end_set();  // 3 zero bytes: padding
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 5u);
  EXPECT_EQ(out[0].protocol, 6);
  EXPECT_EQ(out[2].protocol, 1);
  EXPECT_EQ(out[3].protocol, 0);  // the padding byte is a 4th 1-byte record: padding must be shorter
  EXPECT_EQ(d.counters().total_rejected(), 0u);

  // 5 non-zero bytes after a whole 8-byte record: a cut record, not padding.
  decode::Dispatcher d2;
  out.clear();
  Builder c = v9_header(1);
  c.begin_set(0).u16(256).u16(2).field(8, 4).field(12, 4).end_set();
  c.begin_set(256).ipv4("198.51.100.1").ipv4("198.51.100.2").ipv4("198.51.100.3").u8(1).end_set();
  EXPECT_EQ(d2.decode(c.datagram(), out).value(), 1u);
  EXPECT_EQ(rejected(d2, Errc::truncated_records), 1u);
}

TEST(NetflowV9, ReservedFlowSetIdsAreSkipped) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(5).u32(0xdeadbeef).end_set();
  rfc_template(b);
  rfc_data(b);
  EXPECT_EQ(d.decode(b.datagram(), out).value(), 3u);
  EXPECT_EQ(d.counters().skipped[static_cast<std::size_t>(Protocol::netflow_v9)], 1u);
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

// ---- malformed input ----

TEST(NetflowV9, ShortHeaderIsRefused) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b;
  b.u16(9).u16(1).u32(0).u32(0).u32(0);  // 16 of 20 bytes
  const auto r = d.decode(b.datagram(), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::short_header);
  EXPECT_EQ(rejected(d, Errc::short_header), 1u);
}

TEST(NetflowV9, TemplateFieldCountPastTheFlowSetIsBadTemplate) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(6).field(8, 4).field(12, 4).end_set();  // says 6 fields, has 2
  rfc_template(b);  // a later FlowSet is still read
  rfc_data(b);
  EXPECT_EQ(d.decode(b.datagram(), out).value(), 3u);
  EXPECT_EQ(rejected(d, Errc::bad_template), 1u);
  EXPECT_EQ(d.set_errors().kept()[0].template_id, 256);
  EXPECT_EQ(d.set_errors().kept()[0].offset, 24u);
}

// RFC 3954 does not forbid a field of length 0 (ls_nf9_0length.pcap has them): it carries nothing
// and is skipped. A template whose fields are all empty cannot frame a record: bad_template.
TEST(NetflowV9, ZeroLengthTemplateFieldIsSkipped) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(3).field(8, 4).field(12, 0).field(12, 4).end_set();
  b.begin_set(0).u16(257).u16(2).field(8, 0).field(12, 0).end_set();
  b.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").end_set();
  ASSERT_EQ(d.decode(b.datagram(), out).value(), 1u);
  EXPECT_EQ(out[0].src, ip("198.51.100.1"));
  EXPECT_EQ(out[0].dst, ip("203.0.113.1"));
  EXPECT_EQ(rejected(d, Errc::bad_template), 1u);
  EXPECT_EQ(d.set_errors().kept()[0].template_id, 257);
  EXPECT_EQ(d.templates().template_count(), 1u);
}

TEST(NetflowV9, TemplateIdBelow256AndEmptyTemplatesAreBad) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0).u16(255).u16(1).field(8, 4).end_set();
  b.begin_set(0).u16(256).u16(0).end_set();  // v9 has no withdrawal
  b.begin_set(1).u16(258).u16(3).u16(4).field(1, 4).field(34, 4).end_set();  // scope length 3
  EXPECT_TRUE(d.decode(b.datagram(), out));
  EXPECT_EQ(rejected(d, Errc::bad_template), 3u);
  EXPECT_EQ(d.templates().template_count(), 0u);
}

TEST(NetflowV9, FlowSetLengthPastTheDatagramEndsItButKeepsEarlierRecords) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  rfc_template(b);
  rfc_data(b);
  b.begin_set(256).ipv4("198.51.100.9").end_set();
  b.patch16(b.size() - 6, 200);  // the last FlowSet claims 200 bytes
  EXPECT_EQ(d.decode(b.datagram(), out).value(), 3u);
  EXPECT_EQ(rejected(d, Errc::bad_set_length), 1u);
}

TEST(NetflowV9, FlowSetLengthUnderFourIsBadSetLength) {
  for (int length : {0, 1, 3}) {
    decode::Dispatcher d;
    std::vector<FlowRecord> out;
    Builder b = v9_header(1);
    rfc_template(b);
    b.u16(256).u16(static_cast<std::uint64_t>(length)).zeros(8);
    EXPECT_EQ(d.decode(b.datagram(), out).value(), 0u);
    EXPECT_EQ(rejected(d, Errc::bad_set_length), 1u) << length;
    EXPECT_EQ(d.set_errors().kept()[0].offset, 20u + 28u + 2u);
  }
}

TEST(NetflowV9, ABadFlowSetDoesNotLoseTheGoodOnes) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  rfc_template(b);
  b.begin_set(999).u32(1).end_set();  // no template 999
  rfc_data(b);
  b.begin_set(0).u16(1).u16(1).field(8, 4).end_set();  // template id 1
  rfc_data(b);
  EXPECT_EQ(d.decode(b.datagram(), out).value(), 6u);
  EXPECT_EQ(rejected(d, Errc::unknown_template), 1u);
  EXPECT_EQ(rejected(d, Errc::bad_template), 1u);
  EXPECT_EQ(d.set_errors().size(), 2u);
}

TEST(NetflowV9, TemplateFloodStopsAtTheCaps) {
  decode::TemplateCacheLimits limits;
  limits.max_templates_per_domain = 4;
  limits.max_fields_per_template = 8;
  decode::Dispatcher d(limits);
  std::vector<FlowRecord> out;
  Builder b = v9_header(1);
  b.begin_set(0);
  for (std::uint16_t id = 256; id < 266; ++id) b.u16(id).u16(1).field(8, 4);
  b.u16(300).u16(9);
  for (int i = 0; i < 9; ++i) b.field(8, 4);
  b.end_set();
  EXPECT_TRUE(d.decode(b.datagram(), out));
  EXPECT_EQ(d.templates().template_count(), 4u);
  EXPECT_EQ(rejected(d, Errc::template_limit), 6u);
  EXPECT_EQ(rejected(d, Errc::field_limit), 1u);
}

}  // namespace
}  // namespace overflowd
