// NetFlow v5 datagrams written byte by byte from Cisco's v5 export format:
//   header (24 bytes): version, count, sys_uptime, unix_secs, unix_nsecs, flow_sequence,
//                      engine_type, engine_id, sampling (2 bits mode, 14 bits interval)
//   record (48 bytes): srcaddr, dstaddr, nexthop, input, output, dPkts, dOctets, First, Last,
//                      srcport, dstport, pad1, tcp_flags, prot, tos, src_as, dst_as,
//                      src_mask, dst_mask, pad2 (2 bytes)
#include "decode/netflow_v5.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <vector>

#include "decode/dispatch.hpp"
#include "source/pcap_source.hpp"
#include "support/byte_builder.hpp"

namespace {

namespace v5 = overflowd::decode::netflow_v5;
using overflowd::core::Datagram;
using overflowd::core::Errc;
using overflowd::core::FlowRecord;
using overflowd::core::IpAddress;
using overflowd::core::Protocol;
using overflowd::decode::Dispatcher;
using overflowd::test::ByteBuilder;

struct HeaderFields {
  std::uint16_t version = 5;
  std::uint16_t count = 1;
  std::uint32_t sys_uptime = 3'600'000;
  std::uint32_t unix_secs = 1'700'000'000;
  std::uint32_t unix_nsecs = 123'456'789;
  std::uint32_t flow_sequence = 0x01020304;
  std::uint8_t engine_type = 0xa1;
  std::uint8_t engine_id = 0xb2;
  std::uint16_t sampling = 0x4064;  // mode 1, interval 100
};

void put_header(ByteBuilder& b, const HeaderFields& h) {
  b.u16(h.version).u16(h.count).u32(h.sys_uptime).u32(h.unix_secs).u32(h.unix_nsecs).u32(h.flow_sequence);
  b.u8(h.engine_type).u8(h.engine_id).u16(h.sampling);
}

struct RecordFields {
  std::uint32_t srcaddr = 0x7aa65a8f;  // 122.166.90.143
  std::uint32_t dstaddr = 0xbf640abb;  // 191.100.10.187
  std::uint32_t nexthop = 0x0a000001;  // 10.0.0.1
  std::uint16_t input = 0x1234;
  std::uint16_t output = 0x5678;
  std::uint32_t d_pkts = 0x00abcdef;
  std::uint32_t d_octets = 0xfedcba98;
  std::uint32_t first = 3'590'000;
  std::uint32_t last = 3'599'500;
  std::uint16_t srcport = 2968;
  std::uint16_t dstport = 80;
  std::uint8_t tcp_flags = 0x1b;
  std::uint8_t prot = 6;
  std::uint8_t tos = 0xb8;
  std::uint16_t src_as = 64500;
  std::uint16_t dst_as = 65001;
  std::uint8_t src_mask = 19;
  std::uint8_t dst_mask = 27;
};

void put_record(ByteBuilder& b, const RecordFields& r) {
  b.u32(r.srcaddr).u32(r.dstaddr).u32(r.nexthop).u16(r.input).u16(r.output);
  b.u32(r.d_pkts).u32(r.d_octets).u32(r.first).u32(r.last).u16(r.srcport).u16(r.dstport);
  b.u8(0xee);  // pad1: must be ignored
  b.u8(r.tcp_flags).u8(r.prot).u8(r.tos).u16(r.src_as).u16(r.dst_as).u8(r.src_mask).u8(r.dst_mask);
  b.u16(0xeeee);  // pad2: must be ignored
}

ByteBuilder datagram(const HeaderFields& h, std::size_t records, const RecordFields& r = {}) {
  ByteBuilder b;
  put_header(b, h);
  for (std::size_t i = 0; i < records; ++i) put_record(b, r);
  return b;
}

Datagram wrap(const ByteBuilder& b) {
  Datagram d;
  d.exporter = IpAddress::v4(0x7aa604f2);  // 122.166.4.242
  d.exporter_port = 35467;
  d.bytes = b.span();
  return d;
}

// Milliseconds by the definition, written out independently of the decoder.
std::int64_t expected_ms(const HeaderFields& h, std::int64_t uptime_minus_stamp) {
  return std::int64_t{h.unix_secs} * 1000 + std::int64_t{h.unix_nsecs} / 1'000'000 - uptime_minus_stamp;
}

// ---- the header ----

TEST(NetflowV5Header, EveryFieldIsDecoded) {
  const HeaderFields h;
  const auto b = datagram(h, 1);
  ASSERT_EQ(b.size(), 24u + 48u);
  const auto parsed = v5::parse_header(b.span());
  ASSERT_TRUE(parsed) << parsed.error().describe();
  EXPECT_EQ(parsed->version, 5);
  EXPECT_EQ(parsed->count, 1);
  EXPECT_EQ(parsed->sys_uptime, 3'600'000u);
  EXPECT_EQ(parsed->unix_secs, 1'700'000'000u);
  EXPECT_EQ(parsed->unix_nsecs, 123'456'789u);
  EXPECT_EQ(parsed->flow_sequence, 0x01020304u);
  EXPECT_EQ(parsed->engine_type, 0xa1);
  EXPECT_EQ(parsed->engine_id, 0xb2);
  EXPECT_EQ(parsed->sampling_mode, 1);
  EXPECT_EQ(parsed->sampling_interval, 100);
}

TEST(NetflowV5Header, SamplingFieldSplitsTwoModeBitsAndFourteenIntervalBits) {
  HeaderFields h;
  h.sampling = 0xffff;
  auto b = datagram(h, 1);
  auto parsed = v5::parse_header(b.span());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->sampling_mode, 3);
  EXPECT_EQ(parsed->sampling_interval, 0x3fff);

  h.sampling = 0x8001;  // mode 2, interval 1
  b = datagram(h, 1);
  parsed = v5::parse_header(b.span());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->sampling_mode, 2);
  EXPECT_EQ(parsed->sampling_interval, 1);
}

TEST(NetflowV5Header, WrongVersionIsBadVersion) {
  for (int version : {0, 1, 7, 9, 10}) {
    HeaderFields h;
    h.version = static_cast<std::uint16_t>(version);
    const auto b = datagram(h, 1);
    const auto parsed = v5::parse_header(b.span());
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, Errc::bad_version);
    EXPECT_EQ(parsed.error().version, version);
    EXPECT_EQ(parsed.error().offset, 0u);
  }
}

// ---- the records ----

TEST(NetflowV5Record, EveryFieldIsDecoded) {
  const HeaderFields h;
  const RecordFields r;
  const auto b = datagram(h, 1, r);
  const v5::Record rec = v5::parse_record(b.span(), 0);
  EXPECT_EQ(rec.srcaddr, 0x7aa65a8fu);
  EXPECT_EQ(rec.dstaddr, 0xbf640abbu);
  EXPECT_EQ(rec.nexthop, 0x0a000001u);
  EXPECT_EQ(rec.input, 0x1234);
  EXPECT_EQ(rec.output, 0x5678);
  EXPECT_EQ(rec.d_pkts, 0x00abcdefu);
  EXPECT_EQ(rec.d_octets, 0xfedcba98u);
  EXPECT_EQ(rec.first, 3'590'000u);
  EXPECT_EQ(rec.last, 3'599'500u);
  EXPECT_EQ(rec.srcport, 2968);
  EXPECT_EQ(rec.dstport, 80);
  EXPECT_EQ(rec.tcp_flags, 0x1b);
  EXPECT_EQ(rec.prot, 6);
  EXPECT_EQ(rec.tos, 0xb8);
  EXPECT_EQ(rec.src_as, 64500);
  EXPECT_EQ(rec.dst_as, 65001);
  EXPECT_EQ(rec.src_mask, 19);
  EXPECT_EQ(rec.dst_mask, 27);
}

TEST(NetflowV5Decode, FillsTheFlowRecordFromEveryField) {
  const HeaderFields h;
  const RecordFields r;
  const auto b = datagram(h, 1, r);
  std::vector<FlowRecord> out;
  const auto n = v5::decode(wrap(b), out);
  ASSERT_TRUE(n) << n.error().describe();
  ASSERT_EQ(*n, 1u);
  ASSERT_EQ(out.size(), 1u);
  const FlowRecord& f = out[0];
  EXPECT_EQ(f.src.to_string(), "122.166.90.143");
  EXPECT_EQ(f.dst.to_string(), "191.100.10.187");
  EXPECT_EQ(f.nexthop.to_string(), "10.0.0.1");
  EXPECT_EQ(f.exporter.to_string(), "122.166.4.242");
  EXPECT_EQ(f.input, 0x1234u);
  EXPECT_EQ(f.output, 0x5678u);
  EXPECT_EQ(f.pcount, 0x00abcdefu);
  EXPECT_EQ(f.bcount, 0xfedcba98u);
  EXPECT_EQ(f.sport, 2968);
  EXPECT_EQ(f.dport, 80);
  EXPECT_EQ(f.tcp_flags, 0x1b);
  EXPECT_EQ(f.protocol, 6);
  EXPECT_EQ(f.tos, 0xb8);
  EXPECT_EQ(f.src_as, 64500u);
  EXPECT_EQ(f.dst_as, 65001u);
  EXPECT_EQ(f.src_mask, 19);
  EXPECT_EQ(f.dst_mask, 27);
  EXPECT_EQ(f.sampling_interval, 100u);
  EXPECT_EQ(f.source_type, overflowd::core::SourceType::netflow);
  EXPECT_EQ(f.source_version, 5);
  EXPECT_EQ(f.fields, overflowd::core::kNetflowV5Fields);
  EXPECT_FALSE(f.has(overflowd::core::kIcmp));
  // First = 3,590,000 and Last = 3,599,500 at sys_uptime 3,600,000: 10 s and 0.5 s before export.
  EXPECT_EQ(f.stime_ms, expected_ms(h, 10'000));
  EXPECT_EQ(f.etime_ms, expected_ms(h, 500));
  EXPECT_EQ(f.stime_ms, 1'699'999'990'123);
  EXPECT_EQ(f.etime_ms, 1'699'999'999'623);
}

TEST(NetflowV5Decode, ThirtyRecordsAreDecodedInOrder) {
  HeaderFields h;
  h.count = 30;
  ByteBuilder b;
  put_header(b, h);
  for (std::uint16_t i = 0; i < 30; ++i) {
    RecordFields r;
    r.srcaddr = 0x0a000000u + i;
    r.srcport = static_cast<std::uint16_t>(1000 + i);
    r.d_pkts = 1u + i;
    put_record(b, r);
  }
  ASSERT_EQ(b.size(), 24u + 48u * 30u);
  std::vector<FlowRecord> out;
  const auto n = v5::decode(wrap(b), out);
  ASSERT_TRUE(n) << n.error().describe();
  ASSERT_EQ(*n, 30u);
  for (std::uint16_t i = 0; i < 30; ++i) {
    EXPECT_EQ(out[i].src.v4_host_order(), 0x0a000000u + i);
    EXPECT_EQ(out[i].sport, 1000 + i);
    EXPECT_EQ(out[i].pcount, 1u + i);
  }
}

TEST(NetflowV5Decode, AppendsAfterWhatIsAlreadyInTheVector) {
  const auto b = datagram(HeaderFields{}, 1);
  std::vector<FlowRecord> out(3);
  out[0].pcount = 77;
  const auto n = v5::decode(wrap(b), out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].pcount, 77u);
  EXPECT_EQ(out[3].pcount, 0x00abcdefu);
}

TEST(NetflowV5Decode, ZeroSamplingIntervalMeansOne) {
  HeaderFields h;
  h.sampling = 0x0000;
  auto b = datagram(h, 1);
  std::vector<FlowRecord> out;
  ASSERT_TRUE(v5::decode(wrap(b), out));
  EXPECT_EQ(out[0].sampling_interval, 1u);

  h.sampling = 0x4000;  // a mode but no interval
  b = datagram(h, 1);
  out.clear();
  ASSERT_TRUE(v5::decode(wrap(b), out));
  EXPECT_EQ(out[0].sampling_interval, 1u);

  h.sampling = 0xc000 | 0x03e8;  // mode 3, 1 in 1000; the mode bits are not part of the interval
  b = datagram(h, 1);
  out.clear();
  ASSERT_TRUE(v5::decode(wrap(b), out));
  EXPECT_EQ(out[0].sampling_interval, 1000u);
}

// ---- times: unix_secs*1000 + unix_nsecs/1e6 - (sys_uptime - stamp), modulo 2^32 uptime ----

TEST(NetflowV5Times, NanosecondsAreTruncatedToMilliseconds) {
  HeaderFields h;
  h.unix_nsecs = 999'999'999;
  RecordFields r;
  r.first = h.sys_uptime;
  r.last = h.sys_uptime;
  const auto b = datagram(h, 1, r);
  std::vector<FlowRecord> out;
  ASSERT_TRUE(v5::decode(wrap(b), out));
  EXPECT_EQ(out[0].stime_ms, 1'700'000'000'999);
  EXPECT_EQ(out[0].etime_ms, 1'700'000'000'999);
}

TEST(NetflowV5Times, UptimeWrapAroundBetweenFirstAndExport) {
  // The exporter's uptime passed 2^32 ms (49.7 days) after the flow started: First is just below
  // 2^32 and sys_uptime just above 0. The flow started 4,096 + 5,000 ms before the export.
  HeaderFields h;
  h.sys_uptime = 5'000;
  RecordFields r;
  r.first = 0xfffff000u;  // 2^32 - 4096
  r.last = 4'000;
  const auto b = datagram(h, 1, r);
  std::vector<FlowRecord> out;
  ASSERT_TRUE(v5::decode(wrap(b), out));
  EXPECT_EQ(out[0].stime_ms, expected_ms(h, 9'096));
  EXPECT_EQ(out[0].etime_ms, expected_ms(h, 1'000));
  EXPECT_LT(out[0].stime_ms, out[0].etime_ms);
}

TEST(NetflowV5Times, LargeUptimeWithoutWrapAround) {
  HeaderFields h;
  h.sys_uptime = 0xffffff00u;
  RecordFields r;
  r.first = 0xfffff000u;
  r.last = 0xffffff00u;
  const auto b = datagram(h, 1, r);
  std::vector<FlowRecord> out;
  ASSERT_TRUE(v5::decode(wrap(b), out));
  EXPECT_EQ(out[0].stime_ms, expected_ms(h, 0xf00));
  EXPECT_EQ(out[0].etime_ms, expected_ms(h, 0));
}

TEST(NetflowV5Times, StampSlightlyAfterUptimeLandsAfterTheExportTime) {
  HeaderFields h;
  RecordFields r;
  r.first = h.sys_uptime - 20;
  r.last = h.sys_uptime + 20;
  const auto b = datagram(h, 1, r);
  std::vector<FlowRecord> out;
  ASSERT_TRUE(v5::decode(wrap(b), out));
  EXPECT_EQ(out[0].stime_ms, expected_ms(h, 20));
  EXPECT_EQ(out[0].etime_ms, expected_ms(h, -20));
}

TEST(NetflowV5Times, UptimeToUnixMsMatchesTheDefinition) {
  v5::Header h;
  h.sys_uptime = 1'000'000;
  h.unix_secs = 1'185'554'891;
  h.unix_nsecs = 116'000'000;
  EXPECT_EQ(v5::uptime_to_unix_ms(h, 1'000'000), 1'185'554'891'116);
  EXPECT_EQ(v5::uptime_to_unix_ms(h, 999'800), 1'185'554'890'916);
  EXPECT_EQ(v5::uptime_to_unix_ms(h, 0), 1'185'554'891'116 - 1'000'000);
}

// ---- malformed datagrams: the exact reason, and the dispatcher counts it under that reason ----

struct Refusal {
  Errc code;
  std::uint32_t offset;
};

void expect_refused(const ByteBuilder& b, Refusal want) {
  const auto parsed = v5::parse_header(b.span());
  ASSERT_FALSE(parsed) << "accepted " << b.size() << " bytes";
  EXPECT_EQ(parsed.error().code, want.code) << overflowd::core::to_string(parsed.error().code);
  EXPECT_EQ(parsed.error().offset, want.offset);
  EXPECT_EQ(parsed.error().version, 5);

  std::vector<FlowRecord> out(2);  // a refusal appends nothing
  EXPECT_FALSE(v5::decode(wrap(b), out));
  EXPECT_EQ(out.size(), 2u);

  Dispatcher dispatcher;
  const auto r = dispatcher.decode(wrap(b), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, want.code);
  EXPECT_EQ(out.size(), 2u);
  const auto& c = dispatcher.counters();
  EXPECT_EQ(c.rejected_count(Protocol::netflow_v5, want.code), 1u);
  EXPECT_EQ(c.total_rejected(), 1u);
  EXPECT_EQ(c.datagrams[static_cast<std::size_t>(Protocol::netflow_v5)], 0u);
  EXPECT_EQ(c.records[static_cast<std::size_t>(Protocol::netflow_v5)], 0u);
}

TEST(NetflowV5Malformed, ShortHeader) {
  const auto full = datagram(HeaderFields{}, 1);
  for (std::size_t n = 4; n < 24; ++n) {  // below 4 bytes the dispatcher cannot tell it is v5
    ByteBuilder b;
    b.append(full.span().first(n));
    SCOPED_TRACE(n);
    expect_refused(b, {Errc::short_header, static_cast<std::uint32_t>(n)});
  }
  for (std::size_t n = 0; n < 4; ++n) {
    const auto parsed = v5::parse_header(full.span().first(n));
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, Errc::short_header);
  }
}

TEST(NetflowV5Malformed, CountZero) {
  HeaderFields h;
  h.count = 0;
  expect_refused(datagram(h, 0), {Errc::count_zero, 2});
}

TEST(NetflowV5Malformed, CountThirtyOneIsTooLargeEvenWithThirtyOneRecords) {
  HeaderFields h;
  h.count = 31;
  const auto b = datagram(h, 31);
  ASSERT_EQ(b.size(), 24u + 48u * 31u);
  expect_refused(b, {Errc::count_too_large, 2});
}

TEST(NetflowV5Malformed, NanosecondsOfOneSecondOrMoreAreNoTime) {
  HeaderFields h;
  h.unix_nsecs = 999'999'999;  // the largest residual: accepted
  EXPECT_TRUE(v5::parse_header(datagram(h, 1).span()));
  for (std::uint32_t nsecs : {1'000'000'000u, 0xffffffffu}) {
    h.unix_nsecs = nsecs;
    expect_refused(datagram(h, 1), {Errc::bad_nanoseconds, 12});
  }
}

TEST(NetflowV5Malformed, CountLargerThanTheDatagramIsTruncatedRecords) {
  HeaderFields h;
  h.count = 3;
  expect_refused(datagram(h, 2), {Errc::truncated_records, 24 + 96});
  // One byte short of the last record.
  auto b = datagram(h, 3);
  ByteBuilder cut;
  cut.append(b.span().first(b.size() - 1));
  expect_refused(cut, {Errc::truncated_records, 24 + 144 - 1});
  // A header alone, claiming 30 records.
  h.count = 30;
  expect_refused(datagram(h, 0), {Errc::truncated_records, 24});
}

TEST(NetflowV5Malformed, TrailingBytes) {
  HeaderFields h;
  h.count = 1;
  auto b = datagram(h, 1);
  b.u8(0);
  expect_refused(b, {Errc::trailing_bytes, 72});
  h.count = 2;
  expect_refused(datagram(h, 3), {Errc::trailing_bytes, 24 + 96});
}

TEST(NetflowV5Dispatch, ThirtyRecordsExactlyAreAcceptedAndCounted) {
  HeaderFields h;
  h.count = 30;
  const auto b = datagram(h, 30);
  ASSERT_EQ(b.size(), 1464u);
  Dispatcher dispatcher;
  std::vector<FlowRecord> out;
  const auto n = dispatcher.decode(wrap(b), out);
  ASSERT_TRUE(n) << n.error().describe();
  EXPECT_EQ(*n, 30u);
  EXPECT_EQ(out.size(), 30u);
  const auto& c = dispatcher.counters();
  EXPECT_EQ(c.datagrams[static_cast<std::size_t>(Protocol::netflow_v5)], 1u);
  EXPECT_EQ(c.records[static_cast<std::size_t>(Protocol::netflow_v5)], 30u);
  EXPECT_EQ(c.total_rejected(), 0u);
}

// ---- the real capture ----

TEST(NetflowV5Capture, Netflow4MDecodesToTheKnownTotals) {
  const std::string path = overflowd::test::shared_data_file("netflow_4M.pcap");
  if (::access(path.c_str(), R_OK) != 0) GTEST_SKIP() << path << " is absent (../shared/data holds the real captures)";
  auto source = overflowd::source::PcapSource::open(path);
  ASSERT_TRUE(source) << source.error();
  Dispatcher dispatcher;
  std::vector<FlowRecord> records;
  Datagram d;
  std::uint64_t datagrams = 0;
  while ((*source)->next(d)) {
    ++datagrams;
    const auto n = dispatcher.decode(d, records);
    ASSERT_TRUE(n) << "datagram " << datagrams << ": " << n.error().describe();
  }
  EXPECT_EQ(datagrams, 2'708u);
  EXPECT_EQ(records.size(), 78'684u);
  std::uint64_t packets = 0, bytes = 0;
  for (const auto& f : records) {
    packets += f.pcount;
    bytes += f.bcount;
  }
  EXPECT_EQ(packets, 2'862'857u);
  EXPECT_EQ(bytes, 2'048'144'412u);

  ASSERT_FALSE(records.empty());
  const FlowRecord& first = records.front();
  EXPECT_EQ(first.src.to_string(), "122.166.90.143");
  EXPECT_EQ(first.sport, 2968);
  EXPECT_EQ(first.dst.to_string(), "191.100.10.187");
  EXPECT_EQ(first.dport, 80);
  EXPECT_EQ(first.protocol, 6);
  EXPECT_EQ(first.pcount, 6u);
  EXPECT_EQ(first.bcount, 1'244u);
  EXPECT_EQ(first.exporter.to_string(), "122.166.4.242");

  const auto& c = dispatcher.counters();
  EXPECT_EQ(c.datagrams[static_cast<std::size_t>(Protocol::netflow_v5)], 2'708u);
  EXPECT_EQ(c.records[static_cast<std::size_t>(Protocol::netflow_v5)], 78'684u);
  EXPECT_EQ(c.total_rejected(), 0u);
  // The file was cut at 4,000,000 bytes: the last packet record is incomplete.
  EXPECT_FALSE((*source)->warning().empty());
  EXPECT_EQ((*source)->counters().datagrams, 2'708u);
}

}  // namespace
