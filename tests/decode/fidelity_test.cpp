// The defects of issue 10, found on real exporters' captures, each on a datagram written by hand
// after the RFCs (RFC 3954 NetFlow v9, RFC 7011 IPFIX, RFC 5477 PSAMP, sFlow v5), so that they stay
// fixed without the shared captures. docs/decoders.md says what each choice is and why.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "core/counters.hpp"
#include "decode/dispatch.hpp"
#include "decode/export_builder.hpp"
#include "decode/information_elements.hpp"
#include "decode/sflow_v5.hpp"
#include "report/report_builder.hpp"

namespace overflowd {
namespace {

using core::Errc;
using core::Field;
using core::FlowRecord;
using core::InterfaceFormat;
using core::Protocol;
using test::Builder;
using test::ip;
using test::ipfix_header;
using test::v9_header;

std::vector<FlowRecord> decode_one(const Builder& b, decode::Dispatcher& d) {
  std::vector<FlowRecord> out;
  EXPECT_TRUE(d.decode(b.datagram(), out));
  return out;
}

std::size_t idx(Protocol p) { return static_cast<std::size_t>(p); }

// ---- 1. Dual-stack templates: an all-zero address never replaces a set one ----

// IPFIX template 256 with IPv4 and IPv6 addresses and next hops (as FS.com switches export).
void dual_stack_template(Builder& b, bool v6_first) {
  b.begin_set(2).u16(256).u16(8);
  if (v6_first) b.field(27, 16).field(28, 16).field(62, 16);
  b.field(8, 4).field(12, 4).field(15, 4);
  if (!v6_first) b.field(27, 16).field(28, 16).field(62, 16);
  b.field(2, 4).field(1, 4);
  b.end_set();
}

void dual_stack_record(Builder& b, bool v6_first, const char* s4, const char* d4, const char* n4, const char* s6,
                       const char* d6, const char* n6) {
  if (v6_first) b.ipv6(s6).ipv6(d6).ipv6(n6);
  b.ipv4(s4).ipv4(d4).ipv4(n4);
  if (!v6_first) b.ipv6(s6).ipv6(d6).ipv6(n6);
  b.u32(3).u32(300);
}

TEST(Fidelity, DualStackTemplateChoosesTheFamilyPerRecord) {
  for (const bool v6_first : {false, true}) {
    decode::Dispatcher d;
    Builder b = ipfix_header(1);
    dual_stack_template(b, v6_first);
    b.begin_set(256);
    // IPv4 flow: the IPv6 fields are all zero (ak_physicalinterfaces.pcap).
    dual_stack_record(b, v6_first, "198.51.100.1", "203.0.113.1", "192.0.2.254", "::", "::", "::");
    // IPv6 flow: the IPv4 fields are all zero.
    dual_stack_record(b, v6_first, "0.0.0.0", "0.0.0.0", "0.0.0.0", "2001:db8::1", "2001:db8::2", "fe80::1");
    // Both set: the family whose fields come later in the template (a tunnel's inner header).
    dual_stack_record(b, v6_first, "198.51.100.1", "203.0.113.1", "192.0.2.254", "2001:db8::1", "2001:db8::2",
                      "fe80::1");
    // Nothing set: IPv4 zeros, never a mix of families.
    dual_stack_record(b, v6_first, "0.0.0.0", "0.0.0.0", "0.0.0.0", "::", "::", "::");
    // An IPv4 flow whose only next hop is IPv6 (RFC 5549).
    dual_stack_record(b, v6_first, "198.51.100.1", "203.0.113.1", "0.0.0.0", "::", "::", "fe80::1");
    b.end_set();
    b.end_message();
    const auto out = decode_one(b, d);
    ASSERT_EQ(out.size(), 5u) << v6_first;
    EXPECT_EQ(out[0].src, ip("198.51.100.1")) << v6_first;
    EXPECT_EQ(out[0].dst, ip("203.0.113.1")) << v6_first;
    EXPECT_EQ(out[0].nexthop, ip("192.0.2.254")) << v6_first;
    EXPECT_EQ(out[1].src, ip("2001:db8::1")) << v6_first;
    EXPECT_EQ(out[1].dst, ip("2001:db8::2")) << v6_first;
    EXPECT_EQ(out[1].nexthop, ip("fe80::1")) << v6_first;
    EXPECT_EQ(out[2].src, ip(v6_first ? "198.51.100.1" : "2001:db8::1")) << v6_first;
    EXPECT_EQ(out[2].dst, ip(v6_first ? "203.0.113.1" : "2001:db8::2")) << v6_first;
    EXPECT_EQ(out[2].nexthop, ip(v6_first ? "192.0.2.254" : "fe80::1")) << v6_first;
    EXPECT_EQ(out[3].src, ip("0.0.0.0")) << v6_first;
    EXPECT_EQ(out[3].dst, ip("0.0.0.0")) << v6_first;
    EXPECT_EQ(out[3].nexthop, ip("0.0.0.0")) << v6_first;
    EXPECT_EQ(out[4].src, ip("198.51.100.1")) << v6_first;
    EXPECT_EQ(out[4].nexthop, ip("fe80::1")) << v6_first;
    for (const FlowRecord& f : out) EXPECT_TRUE(f.has(Field::kSrcAddr) && f.has(Field::kDstAddr) && f.has(Field::kNextHop));
  }
}

// Tunnels: a template that repeats the address elements for the outer and the inner header (outer
// first, as Cisco IOS-XR and Huawei export) reports the inner flow, the traffic's own endpoints;
// a record without a tunnel (inner all zero) keeps the outer addresses.
TEST(Fidelity, TunnelTemplatesReportTheInnerHeader) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(5).field(8, 4).field(12, 4).field(8, 4).field(12, 4).field(2, 4).end_set();
  // SRv6: an IPv6 outer header, an IPv4 inner one.
  b.begin_set(2).u16(257).u16(5).field(27, 16).field(28, 16).field(8, 4).field(12, 4).field(2, 4).end_set();
  b.begin_set(256);
  b.ipv4("192.0.2.1").ipv4("192.0.2.2").ipv4("198.51.100.1").ipv4("203.0.113.1").u32(1);
  b.ipv4("192.0.2.1").ipv4("192.0.2.2").ipv4("0.0.0.0").ipv4("0.0.0.0").u32(1);
  b.end_set();
  b.begin_set(257).ipv6("fc00::1").ipv6("fc00::2").ipv4("198.51.100.1").ipv4("203.0.113.1").u32(1).end_set();
  b.end_message();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].src, ip("198.51.100.1"));
  EXPECT_EQ(out[0].dst, ip("203.0.113.1"));
  EXPECT_EQ(out[1].src, ip("192.0.2.1"));
  EXPECT_EQ(out[1].dst, ip("192.0.2.2"));
  EXPECT_EQ(out[2].src, ip("198.51.100.1"));
  EXPECT_EQ(out[2].dst, ip("203.0.113.1"));
}

TEST(Fidelity, ZeroIpNextHopGivesWayToANonZeroBgpNextHop) {
  decode::Dispatcher d;
  Builder b = v9_header(1);
  b.begin_set(0).u16(256).u16(5).field(8, 4).field(12, 4).field(15, 4).field(18, 4).field(2, 4).end_set();
  b.begin_set(256);
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").ipv4("0.0.0.0").ipv4("192.0.2.7").u32(1);
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").ipv4("192.0.2.1").ipv4("192.0.2.7").u32(1);
  b.end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].nexthop, ip("192.0.2.7"));
  EXPECT_EQ(out[1].nexthop, ip("192.0.2.1"));
}

// ---- 2. Flows without a packet count ----

TEST(Fidelity, BytesWithoutPacketsEstimateThePacketCount) {
  decode::Dispatcher d;
  Builder b = v9_header(1);
  // Cisco ASA NSEL: octetTotalCount (85) only.
  b.begin_set(0).u16(256).u16(3).field(8, 4).field(12, 4).field(85, 4).end_set();
  b.begin_set(256);
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u32(1500);  // ceil(1500 / 512) = 3
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u32(40);    // at least 1
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u32(1024);  // exactly 2
  b.end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].pcount, 3u);
  EXPECT_EQ(out[1].pcount, 1u);
  EXPECT_EQ(out[2].pcount, 2u);
  for (const FlowRecord& f : out) {
    EXPECT_TRUE(f.has(Field::kBytes));
    EXPECT_FALSE(f.has(Field::kPackets)) << "an estimate is not reported as the exporter's count";
  }
  EXPECT_EQ(out[0].bcount, 1500u);
  EXPECT_EQ(d.counters().packets_estimated[idx(Protocol::netflow_v9)], 3u);
  EXPECT_EQ(d.counters().no_counters[idx(Protocol::netflow_v9)], 0u);
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

TEST(Fidelity, InitiatorAndResponderCountersAreSummed) {
  decode::Dispatcher d;
  Builder b = v9_header(1);
  // Cisco ASA NSEL: initiatorOctets / responderOctets (231 / 232), no packets.
  b.begin_set(0).u16(256).u16(4).field(8, 4).field(12, 4).field(231, 4).field(232, 4).end_set();
  // And with initiatorPackets / responderPackets (298 / 299).
  b.begin_set(0).u16(257).u16(6).field(8, 4).field(12, 4).field(231, 8).field(232, 8).field(298, 8).field(299, 8);
  b.end_set();
  b.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u32(800).u32(224).end_set();
  b.begin_set(257).ipv4("198.51.100.1").ipv4("203.0.113.1").u64(800).u64(224).u64(5).u64(2).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].bcount, 1024u);
  EXPECT_EQ(out[0].pcount, 2u);  // estimated
  EXPECT_FALSE(out[0].has(Field::kPackets));
  EXPECT_EQ(out[1].bcount, 1024u);
  EXPECT_EQ(out[1].pcount, 7u);
  EXPECT_TRUE(out[1].has(Field::kPackets));
  EXPECT_EQ(d.counters().packets_estimated[idx(Protocol::netflow_v9)], 1u);
}

TEST(Fidelity, PureEventsCountAsOnePacketAndAreCounted) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // A NAT event: addresses and ports, no counters at all; and one whose counters are all 0.
  b.begin_set(2).u16(256).u16(4).field(8, 4).field(12, 4).field(7, 2).field(11, 2).end_set();
  b.begin_set(2).u16(257).u16(4).field(8, 4).field(12, 4).field(1, 8).field(2, 8).end_set();
  b.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u16(40000).u16(53).end_set(4);
  b.begin_set(257).ipv4("198.51.100.1").ipv4("203.0.113.1").u64(0).u64(0).end_set();
  b.end_message();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  for (const FlowRecord& f : out) {
    EXPECT_EQ(f.pcount, 1u);
    EXPECT_FALSE(f.has(Field::kPackets));
  }
  EXPECT_FALSE(out[0].has(Field::kBytes));
  EXPECT_TRUE(out[1].has(Field::kBytes));
  EXPECT_EQ(out[1].bcount, 0u);
  EXPECT_EQ(d.counters().no_counters[idx(Protocol::ipfix)], 2u);
  std::vector<core::NamedCount> named;
  d.counters().append_to(named);
  EXPECT_NE(std::find(named.begin(), named.end(), core::NamedCount{"ipfix.no_counters", 2}), named.end());
}

// ---- 3. A v9 options template whose scope field has length 0 ----

TEST(Fidelity, V9OptionsScopeOfLengthZeroIsAccepted) {
  decode::Dispatcher d;
  Builder b = v9_header(1);
  // Options template 257: scope System (1) of length 0; option SAMPLING_INTERVAL (34), 4 bytes.
  b.begin_set(1).u16(257).u16(4).u16(4).field(1, 0).field(34, 4).end_set(4);
  b.begin_set(257).u32(100).end_set(4);
  b.begin_set(0).u16(256).u16(3).field(8, 4).field(12, 4).field(2, 4).end_set();
  b.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u32(5).end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sampling_interval, 100u);
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

// ---- 4. PSAMP selector algorithms (RFC 5475 / 5477) ----

TEST(Fidelity, RandomNOutOfNSamplingFromOptionsData) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // Options template 300, as Cisco IOS-XR: scope selectorId (302); selectorAlgorithm (304) = 3,
  // samplingSize (309) = 1, samplingPopulation (310) = 256.
  b.begin_set(3).u16(300).u16(4).u16(1).field(302, 8).field(304, 2).field(309, 4).field(310, 4).end_set();
  b.begin_set(300).u64(9).u16(3).u32(1).u32(256).end_set();
  b.begin_set(2).u16(256).u16(4).field(8, 4).field(12, 4).field(2, 4).field(302, 8).end_set();
  b.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u32(5).u64(9).end_set();
  b.end_message();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sampling_interval, 256u);
}

TEST(Fidelity, EverySelectorAlgorithmGivesItsInterval) {
  using X = decode::ie::RecordExtras;
  X x;
  x.seen = X::kSizeN | X::kPopulation;
  x.sampling_size = 3;
  x.population = 1000;
  EXPECT_EQ(decode::ie::sampling_interval_of(x), 333u);  // round(1000 / 3)
  X t;
  t.seen = X::kTimeInterval | X::kTimeSpace;
  t.time_interval = 1000;  // 1 ms selected of every 100 ms
  t.time_space = 99'000;
  EXPECT_EQ(decode::ie::sampling_interval_of(t), 100u);
  X p;
  p.seen = X::kProbability;
  p.probability = 0.01;
  EXPECT_EQ(decode::ie::sampling_interval_of(p), 100u);
  p.probability = 0;  // not a probability of a sampler that selects anything
  EXPECT_EQ(decode::ie::sampling_interval_of(p), 0u);
  p.probability = 1.5;
  EXPECT_EQ(decode::ie::sampling_interval_of(p), 0u);
  X r;
  r.seen = X::kRandomInterval;
  r.random_interval = 50;
  EXPECT_EQ(decode::ie::sampling_interval_of(r), 50u);
  X c;  // systematic count-based keeps its rule
  c.seen = X::kPacketInterval | X::kPacketSpace;
  c.packet_interval = 1;
  c.packet_space = 99;
  EXPECT_EQ(decode::ie::sampling_interval_of(c), 100u);
}

TEST(Fidelity, SamplingProbabilityAsFloat64AndFloat32InData) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(4).field(8, 4).field(12, 4).field(2, 4).field(311, 8).end_set();
  b.begin_set(2).u16(257).u16(4).field(8, 4).field(12, 4).field(2, 4).field(311, 4).end_set();
  b.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u32(5).u64(std::bit_cast<std::uint64_t>(0.001)).end_set();
  b.begin_set(257).ipv4("198.51.100.1").ipv4("203.0.113.1").u32(5).u32(std::bit_cast<std::uint32_t>(0.25f)).end_set();
  b.end_message();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].sampling_interval, 1000u);
  EXPECT_EQ(out[1].sampling_interval, 4u);
}

// ---- 5. Zero-length fields, and the counters that are present and non-zero ----

TEST(Fidelity, ZeroLengthFieldsAndNonZeroCountersWin) {
  decode::Dispatcher d;
  Builder b = v9_header(1);
  // As ls_nf9_0length.pcap: IN_BYTES, IN_PKTS, OUT_BYTES, OUT_PKTS, and two empty fields.
  b.begin_set(0).u16(256).u16(8).field(8, 4).field(12, 4).field(1, 4).field(2, 4).field(10, 0);
  b.field(23, 4).field(24, 4).field(14, 0).end_set();
  b.begin_set(256);
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u32(0).u32(0).u32(64).u32(1);    // only OUT has traffic
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u32(900).u32(3).u32(64).u32(1);  // IN wins when set
  b.end_set();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].pcount, 1u);
  EXPECT_EQ(out[0].bcount, 64u);
  EXPECT_TRUE(out[0].has(Field::kPackets));
  EXPECT_EQ(out[1].pcount, 3u);
  EXPECT_EQ(out[1].bcount, 900u);
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

TEST(Fidelity, DeltaCountOfZeroBesideANonZeroTotal) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // As Barracuda: octetDeltaCount, packetDeltaCount 0 beside octetTotalCount, packetTotalCount.
  b.begin_set(2).u16(256).u16(6).field(8, 4).field(12, 4).field(1, 8).field(2, 8).field(85, 8).field(86, 8).end_set();
  b.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u64(0).u64(0).u64(5000).u64(7).end_set();
  b.end_message();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bcount, 5000u);
  EXPECT_EQ(out[0].pcount, 7u);
}

// ---- 6. sFlow interface formats ----

struct Xdr {
  std::vector<std::uint8_t> b;
  Xdr& u32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
    return *this;
  }
  Xdr& v4(const char* a) { return u32(ip(a).v4_host_order()); }
};

// One sFlow v5 datagram (agent 192.0.2.5) of one compact flow sample (0:1) whose only record is a
// sampled IPv4 record (0:3), with the given input and output interface words.
std::vector<std::uint8_t> sflow_datagram(std::uint32_t input, std::uint32_t output, bool expanded = false,
                                         std::uint32_t input_format = 0, std::uint32_t output_format = 0) {
  Xdr rec;  // sampled_ipv4: length, protocol, src, dst, src_port, dst_port, tcp_flags, tos
  rec.u32(1500).u32(6).v4("198.51.100.1").v4("203.0.113.1").u32(40000).u32(443).u32(0x10).u32(0);
  Xdr sample;
  sample.u32(1);  // sequence
  if (expanded) {
    sample.u32(0).u32(3);  // source id class, index
  } else {
    sample.u32(3);
  }
  sample.u32(512).u32(1000).u32(0);  // rate, pool, drops
  if (expanded) {
    sample.u32(input_format).u32(input).u32(output_format).u32(output);
  } else {
    sample.u32(input).u32(output);
  }
  sample.u32(1).u32(3).u32(static_cast<std::uint32_t>(rec.b.size()));
  sample.b.insert(sample.b.end(), rec.b.begin(), rec.b.end());
  Xdr d;
  d.u32(5).u32(1).v4("192.0.2.5").u32(0).u32(1).u32(1000).u32(1);
  d.u32(expanded ? 3 : 1).u32(static_cast<std::uint32_t>(sample.b.size()));
  d.b.insert(d.b.end(), sample.b.begin(), sample.b.end());
  return d.b;
}

FlowRecord sflow_flow(const std::vector<std::uint8_t>& bytes) {
  core::Datagram dg;
  dg.exporter = ip("192.0.2.5");
  dg.bytes = std::as_bytes(std::span(bytes));
  std::vector<FlowRecord> out;
  decode::sflow_v5::Stats stats;
  const auto n = decode::sflow_v5::decode(dg, out, stats);
  EXPECT_TRUE(n && *n == 1u);
  return out.empty() ? FlowRecord{} : out[0];
}

std::string report_of(const FlowRecord& f) {
  std::string out;
  report::ReportBuilder({}).build(f, 1'700'000'000'000'000'000, out);
  return out;
}

TEST(Fidelity, SflowInterfaceFormatsAreKept) {
  // 7 output interfaces (format 2).
  FlowRecord f = sflow_flow(sflow_datagram(27, 0x80000007u));
  EXPECT_EQ(f.input_format, InterfaceFormat::ifindex);
  EXPECT_EQ(f.input, 27u);
  EXPECT_EQ(f.output_format, InterfaceFormat::multiple);
  EXPECT_EQ(f.output, 7u);
  std::string r = report_of(f);
  EXPECT_NE(r.find("\"input\":27,\"output_format\":\"multiple\",\"output_value\":7,\"pcount\""), std::string::npos) << r;
  EXPECT_EQ(r.find("\"output\":"), std::string::npos) << r;

  // Discarded (format 1), reason 1 (ICMP host unreachable).
  f = sflow_flow(sflow_datagram(27, 0x40000001u));
  EXPECT_EQ(f.output_format, InterfaceFormat::discarded);
  r = report_of(f);
  EXPECT_NE(r.find("\"output_format\":\"discarded\",\"output_value\":1,"), std::string::npos) << r;

  // Internal (ifIndex 0x3FFFFFFF): the device itself, no value.
  f = sflow_flow(sflow_datagram(0x3fffffffu, 5));
  EXPECT_EQ(f.input_format, InterfaceFormat::internal);
  r = report_of(f);
  EXPECT_NE(r.find("\"input_format\":\"internal\",\"output\":5,"), std::string::npos) << r;
  EXPECT_NE(r.find("\"output\":5,"), std::string::npos) << r;
  EXPECT_EQ(r.find("\"input\":"), std::string::npos) << r;

  // Expanded samples carry the format in its own word.
  f = sflow_flow(sflow_datagram(9, 3, true, 0, 2));
  EXPECT_EQ(f.input_format, InterfaceFormat::ifindex);
  EXPECT_EQ(f.input, 9u);
  EXPECT_EQ(f.output_format, InterfaceFormat::multiple);
  EXPECT_EQ(f.output, 3u);
  f = sflow_flow(sflow_datagram(0xffffffffu, 4, true));
  EXPECT_EQ(f.input_format, InterfaceFormat::internal);
  EXPECT_EQ(f.output_format, InterfaceFormat::ifindex);
}

// ---- 7. ICMP type/code only on ICMP flows ----

TEST(Fidelity, IcmpTypeAndCodeOnlyOnIcmpFlows) {
  decode::Dispatcher d;
  Builder b = v9_header(1);
  // PROTOCOL and ICMP_TYPE (32: type << 8 | code).
  b.begin_set(0).u16(256).u16(5).field(8, 4).field(12, 4).field(4, 1).field(32, 2).field(2, 4).end_set();
  b.begin_set(256);
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u8(6).u16(0).u32(1);        // TCP
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u8(17).u16(0).u32(1);       // UDP
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u8(1).u16(0x0800).u32(1);   // ICMP echo request
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u8(1).u16(0).u32(1);        // ICMP echo reply (0/0)
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u8(58).u16(0x8000).u32(1);  // ICMPv6 echo request
  b.end_set(4);
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_FALSE(out[0].has(Field::kIcmp));
  EXPECT_FALSE(out[1].has(Field::kIcmp));
  EXPECT_TRUE(out[2].has(Field::kIcmp));
  EXPECT_EQ(out[2].icmp_type, 8);
  EXPECT_TRUE(out[3].has(Field::kIcmp));
  EXPECT_EQ(out[3].icmp_type, 0);
  EXPECT_TRUE(out[4].has(Field::kIcmp));
  EXPECT_EQ(out[4].icmp_type, 128);
  EXPECT_EQ(report_of(out[0]).find("icmp"), std::string::npos);
}

// ---- Also: biflows (RFC 5103), the reverse direction as a flow of its own ----

TEST(Fidelity, BiflowReverseDirectionIsASecondFlow) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // As YAF / ipfixprobe: forward counters and TCP flags, then their reverse twins (PEN 29305).
  b.begin_set(2).u16(256).u16(11).field(8, 4).field(12, 4).field(7, 2).field(11, 2).field(4, 1);
  b.field(10, 4).field(14, 4).field(6, 1).field(2, 8).field(1, 8);
  b.enterprise_field(2, 8, 29305).end_set();
  b.begin_set(2).u16(257).u16(7).field(8, 4).field(12, 4).field(2, 8).field(1, 8);
  b.enterprise_field(1, 8, 29305).enterprise_field(6, 1, 29305).enterprise_field(86, 4, 29305).end_set();
  // Ixia's own reverse counts: PEN 3054, 176 octets and 177 packets.
  b.begin_set(2).u16(258).u16(4).field(8, 4).field(12, 4).enterprise_field(176, 8, 3054).enterprise_field(177, 8, 3054);
  b.end_set();
  b.begin_set(256);
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u16(40000).u16(443).u8(6).u32(3).u32(7).u8(0x02).u64(10).u64(800).u64(8);
  b.ipv4("198.51.100.1").ipv4("203.0.113.1").u16(40001).u16(443).u8(6).u32(3).u32(7).u8(0x02).u64(1).u64(60).u64(0);
  b.end_set();
  b.begin_set(257).ipv4("198.51.100.2").ipv4("203.0.113.2").u64(2).u64(120).u64(3000).u8(0x12).u32(0).end_set();
  b.begin_set(258).ipv4("198.51.100.3").ipv4("203.0.113.3").u64(625).u64(6).end_set();
  b.end_message();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 7u);
  // Forward, then reverse: endpoints, ports and interfaces swapped, the reverse packets.
  EXPECT_EQ(out[0].src, ip("198.51.100.1"));
  EXPECT_EQ(out[0].pcount, 10u);
  EXPECT_EQ(out[1].src, ip("203.0.113.1"));
  EXPECT_EQ(out[1].dst, ip("198.51.100.1"));
  EXPECT_EQ(out[1].sport, 443);
  EXPECT_EQ(out[1].dport, 40000);
  EXPECT_EQ(out[1].input, 7u);
  EXPECT_EQ(out[1].output, 3u);
  EXPECT_EQ(out[1].pcount, 8u);
  EXPECT_TRUE(out[1].has(Field::kPackets));
  EXPECT_FALSE(out[1].has(Field::kBytes)) << "the template has no reverse octets";
  EXPECT_FALSE(out[1].has(Field::kTcpFlags)) << "the forward flags are not the reverse's";
  // No reverse traffic: no second flow.
  EXPECT_EQ(out[2].sport, 40001);
  // Reverse octets only (the reverse packet total is 0): packets estimated; reverse flags kept.
  EXPECT_EQ(out[3].src, ip("198.51.100.2"));
  EXPECT_EQ(out[4].src, ip("203.0.113.2"));
  EXPECT_EQ(out[4].bcount, 3000u);
  EXPECT_EQ(out[4].pcount, 6u);
  EXPECT_FALSE(out[4].has(Field::kPackets));
  EXPECT_EQ(out[4].tcp_flags, 0x12);
  EXPECT_TRUE(out[4].has(Field::kTcpFlags));
  // Ixia: the forward direction has no counters at all (an event: one packet), the reverse 6.
  EXPECT_EQ(out[5].src, ip("198.51.100.3"));
  EXPECT_EQ(out[5].pcount, 1u);
  EXPECT_EQ(out[6].src, ip("203.0.113.3"));
  EXPECT_EQ(out[6].pcount, 6u);
  EXPECT_EQ(out[6].bcount, 625u);
  EXPECT_EQ(d.counters().records[idx(Protocol::ipfix)], 7u);
  EXPECT_EQ(d.counters().no_counters[idx(Protocol::ipfix)], 1u);
}

// ---- Also: records that are a sampled frame (RFC 7133 dataLinkFrameSection, IE 315) ----

// An Ethernet frame (IEEE 802.3: destination, source, EtherType) of an IPv4 (RFC 791) UDP (RFC
// 768) packet, 42 bytes.
void ethernet_udp(Builder& b, std::uint16_t ethertype = 0x0800) {
  b.u16(0x0200).u32(1).u16(0x0200).u32(2).u16(ethertype);
  b.u8(0x45).u8(0x28).u16(28).u16(1).u16(0x4000).u8(64).u8(17).u16(0).ipv4("198.51.100.9").ipv4("203.0.113.9");
  b.u16(5353).u16(53).u16(8).u16(0);
}

TEST(Fidelity, SampledFrameRecordsAreWalked) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // As Juniper MX: ingressInterface, dataLinkFrameSize, dataLinkFrameSection (variable length).
  b.begin_set(2).u16(256).u16(3).field(10, 4).field(312, 2).field(315, 65535).end_set();
  // ipHeaderPacketSection (313), fixed length 28, beside an address of its own.
  b.begin_set(2).u16(257).u16(2).field(8, 4).field(313, 28).end_set();
  b.begin_set(256);
  b.u32(7).u16(1514).u8(42);
  ethernet_udp(b);
  b.u32(8).u16(60).u8(42);
  ethernet_udp(b, 0x0806);  // not IP (ARP's EtherType): one packet, no addresses
  b.end_set();
  b.begin_set(257).ipv4("192.0.2.77");
  b.u8(0x45).u8(0).u16(28).u16(1).u16(0).u8(64).u8(17).u16(0).ipv4("198.51.100.9").ipv4("203.0.113.9");
  b.u16(5353).u16(53).u16(8).u16(0);
  b.end_set();
  b.end_message();
  const auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].src, ip("198.51.100.9"));
  EXPECT_EQ(out[0].dst, ip("203.0.113.9"));
  EXPECT_EQ(out[0].protocol, 17);
  EXPECT_EQ(out[0].sport, 5353);
  EXPECT_EQ(out[0].dport, 53);
  EXPECT_EQ(out[0].tos, 0x28);
  EXPECT_EQ(out[0].input, 7u);
  EXPECT_EQ(out[0].pcount, 1u);
  EXPECT_EQ(out[0].bcount, 1514u);
  EXPECT_TRUE(out[0].has(Field::kPackets) && out[0].has(Field::kBytes) && out[0].has(Field::kPorts));
  EXPECT_FALSE(out[1].has(Field::kSrcAddr));
  EXPECT_EQ(out[1].pcount, 1u);
  EXPECT_EQ(out[1].bcount, 60u);
  EXPECT_EQ(out[2].src, ip("192.0.2.77")) << "the record's own field wins";
  EXPECT_EQ(out[2].dst, ip("203.0.113.9"));
  EXPECT_EQ(out[2].dport, 53);
  EXPECT_EQ(d.counters().no_counters[idx(Protocol::ipfix)], 0u);
}

// ---- Also: template expiry (RFC 7011 8.4), on the datagrams' receive time ----

TEST(Fidelity, TemplatesNotSentAgainWithinTheTimeoutExpire) {
  decode::TemplateCacheLimits limits;
  limits.template_timeout_s = 60;
  decode::Dispatcher d(limits);
  constexpr std::int64_t kSecond = 1'000'000'000;
  Builder t = v9_header(1);
  t.begin_set(0).u16(256).u16(3).field(8, 4).field(12, 4).field(2, 4).end_set();
  Builder data = v9_header(1);
  data.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u32(5).end_set();
  auto at = [](const Builder& b, std::int64_t t_ns) {
    core::Datagram g = b.datagram();
    g.received_ns = t_ns;
    return g;
  };
  std::vector<FlowRecord> out;
  const std::int64_t t0 = 1'700'000'000 * kSecond;
  ASSERT_TRUE(d.decode(at(t, t0), out));
  EXPECT_EQ(d.decode(at(data, t0 + 60 * kSecond), out).value(), 1u) << "60 s: still fresh";
  ASSERT_TRUE(d.decode(at(t, t0 + 100 * kSecond), out));  // sent again: refreshed
  EXPECT_EQ(d.decode(at(data, t0 + 150 * kSecond), out).value(), 1u);
  EXPECT_EQ(d.decode(at(data, t0 + 161 * kSecond), out).value(), 0u) << "61 s after the last refresh";
  EXPECT_EQ(d.counters().rejected_count(Protocol::netflow_v9, Errc::template_expired), 1u);
  EXPECT_EQ(d.templates().template_count(), 0u) << "dropped";
  EXPECT_EQ(d.decode(at(data, t0 + 162 * kSecond), out).value(), 0u);
  EXPECT_EQ(d.counters().rejected_count(Protocol::netflow_v9, Errc::unknown_template), 1u);

  // Without a timeout (the default), a template lives until replaced.
  decode::Dispatcher never;
  ASSERT_TRUE(never.decode(at(t, t0), out));
  EXPECT_EQ(never.decode(at(data, t0 + 365 * 86'400 * kSecond), out).value(), 1u);
}

// ---- Also: IPFIX uptime stamps without the exporter's boot time ----

TEST(Fidelity, IpfixUptimeWithoutSystemInitTimeIsCountedAsNoTime) {
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  // flowStartSysUpTime / flowEndSysUpTime (22/21), as MikroTik exports, and no systemInitTime.
  b.begin_set(2).u16(256).u16(5).field(8, 4).field(12, 4).field(2, 4).field(22, 4).field(21, 4).end_set();
  b.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u32(5).u32(1000).u32(2000).end_set();
  b.end_message();
  auto out = decode_one(b, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].has(Field::kTimes));
  EXPECT_EQ(d.counters().no_time[idx(Protocol::ipfix)], 1u);

  // Once options data gives systemInitTimeMilliseconds (160), the same record has times.
  Builder o = ipfix_header(1);
  o.begin_set(3).u16(300).u16(2).u16(1).field(149, 4).field(160, 8).end_set();
  o.begin_set(300).u32(1).u64(1'699'999'000'000).end_set();
  o.begin_set(256).ipv4("198.51.100.1").ipv4("203.0.113.1").u32(5).u32(1000).u32(2000).end_set();
  o.end_message();
  out = decode_one(o, d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has(Field::kTimes));
  EXPECT_EQ(out[0].stime_ms, 1'699'999'001'000);
  EXPECT_EQ(d.counters().no_time[idx(Protocol::ipfix)], 1u);
}

}  // namespace
}  // namespace overflowd
