// sFlow v5 decoder. Every datagram here is built by hand from sflow.org's "sFlow Version 5" XDR
// definitions (sample_datagram_v5, flow_sample, flow_sample_expanded, sampled_header,
// extended_switch/router/gateway), and every sampled packet from RFC 791 / 8200 / 793 / 768 / 792
// and IEEE 802.1Q, byte by byte: nothing here is produced by the code under test.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <utility>
#include <vector>

#include "core/counters.hpp"
#include "core/datagram.hpp"
#include "decode/dispatch.hpp"
#include "decode/sflow_v5.hpp"
#include "sample/sampler.hpp"
#include "source/pcap_source.hpp"

namespace {

using overflowd::core::Datagram;
using overflowd::core::Errc;
using overflowd::core::FlowRecord;
using overflowd::core::IpAddress;
using overflowd::core::Protocol;
namespace core = overflowd::core;
namespace sflow = overflowd::decode::sflow_v5;

using Buf = std::vector<std::uint8_t>;

// ---- XDR, as RFC 4506 encodes it: big-endian 32-bit words, opaque data padded to 4 bytes ----
struct Xdr {
  Buf b;
  Xdr& u32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
    return *this;
  }
  Xdr& raw(const Buf& bytes) {
    b.insert(b.end(), bytes.begin(), bytes.end());
    return *this;
  }
  Xdr& opaque(const Buf& bytes) {  // variable-length opaque: length, bytes, zero padding
    u32(static_cast<std::uint32_t>(bytes.size()));
    raw(bytes);
    while (b.size() % 4) b.push_back(0);
    return *this;
  }
  // A tagged structure: data_format (enterprise << 12 | format), then opaque body.
  Xdr& tagged(std::uint32_t enterprise, std::uint32_t format, const Buf& body) {
    u32((enterprise << 12) | format);
    return opaque(body);
  }
  Xdr& v4(const char* a) {
    const auto ip = IpAddress::parse(a);
    return u32(ip->v4_host_order());
  }
  Xdr& v6(const char* a) {
    const auto ip = IpAddress::parse(a);
    for (int i = 0; i < 16; ++i) b.push_back(ip->bytes()[static_cast<std::size_t>(i)]);
    return *this;
  }
};

// ---- sampled packets, by hand ----
void put16(Buf& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put_v4(Buf& b, const char* a) {
  const auto ip = IpAddress::parse(a);
  for (int i = 0; i < 4; ++i) b.push_back(ip->bytes()[static_cast<std::size_t>(i)]);
}
void put_v6(Buf& b, const char* a) {
  const auto ip = IpAddress::parse(a);
  for (int i = 0; i < 16; ++i) b.push_back(ip->bytes()[static_cast<std::size_t>(i)]);
}
Buf cat(Buf a, const Buf& c) {
  a.insert(a.end(), c.begin(), c.end());
  return a;
}

// RFC 791: version 4, IHL 5, ToS, total length, id, flags/offset, TTL, protocol, checksum, src, dst.
Buf ipv4(std::uint8_t proto, std::uint8_t tos, const char* src, const char* dst, std::uint16_t total_length,
         std::uint16_t flags_offset = 0x4000) {
  Buf b{0x45, tos};
  put16(b, total_length);
  put16(b, 0x1234);
  put16(b, flags_offset);
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);
  put_v4(b, src);
  put_v4(b, dst);
  return b;
}
// RFC 8200: version 6, traffic class, flow label, payload length, next header, hop limit, src, dst.
Buf ipv6(std::uint8_t next, std::uint8_t tclass, const char* src, const char* dst, std::uint16_t payload_length) {
  Buf b{static_cast<std::uint8_t>(0x60 | (tclass >> 4)), static_cast<std::uint8_t>(tclass << 4), 0, 0};
  put16(b, payload_length);
  b.push_back(next);
  b.push_back(64);
  put_v6(b, src);
  put_v6(b, dst);
  return b;
}
// RFC 793: ports, seq, ack, data offset 5, flags, window, checksum, urgent pointer.
Buf tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags) {
  Buf b;
  put16(b, sport);
  put16(b, dport);
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(i + 1));
  b.push_back(0x50);
  b.push_back(flags);
  put16(b, 65535);
  put16(b, 0);
  put16(b, 0);
  return b;
}
// RFC 768.
Buf udp(std::uint16_t sport, std::uint16_t dport, std::uint16_t length) {
  Buf b;
  put16(b, sport);
  put16(b, dport);
  put16(b, length);
  put16(b, 0);
  return b;
}
// RFC 792: type, code, checksum, identifier, sequence.
Buf icmp(std::uint8_t type, std::uint8_t code) { return Buf{type, code, 0, 0, 0, 1, 0, 2}; }
// Ethernet II, optionally with one 802.1Q tag (TPID 0x8100, TCI).
Buf ethernet(std::uint16_t ethertype, const Buf& payload, int vlan = -1) {
  Buf b{0x00, 0x1f, 0x29, 0x7a, 0xd1, 0x32, 0x00, 0x1c, 0xc4, 0x47, 0xd3, 0xf9};
  if (vlan >= 0) {
    put16(b, 0x8100);
    put16(b, static_cast<std::uint16_t>(vlan));
  }
  put16(b, ethertype);
  return cat(b, payload);
}

// ---- sFlow structures ----
// sampled_header (0:1): header_protocol, frame_length, stripped, header<>.
Buf sampled_header(std::uint32_t protocol, std::uint32_t frame_length, const Buf& header, std::uint32_t stripped = 4) {
  Xdr body;
  body.u32(protocol).u32(frame_length).u32(stripped).opaque(header);
  return Xdr{}.tagged(0, 1, body.b).b;
}
Buf extended_switch() {
  Xdr body;
  body.u32(10).u32(3).u32(20).u32(5);
  return Xdr{}.tagged(0, 1001, body.b).b;
}
Buf extended_router_v4(const char* nexthop, std::uint32_t src_mask, std::uint32_t dst_mask) {
  Xdr body;
  body.u32(1).v4(nexthop).u32(src_mask).u32(dst_mask);
  return Xdr{}.tagged(0, 1002, body.b).b;
}
Buf extended_router_v6(const char* nexthop, std::uint32_t src_mask, std::uint32_t dst_mask) {
  Xdr body;
  body.u32(2).v6(nexthop).u32(src_mask).u32(dst_mask);
  return Xdr{}.tagged(0, 1002, body.b).b;
}
// extended_gateway (0:1003): next hop, as, src_as, src_peer_as, dst_as_path<>, communities<>, localpref.
Buf extended_gateway(const char* nexthop, std::uint32_t own_as, std::uint32_t src_as, std::uint32_t src_peer_as,
                     const std::vector<std::pair<std::uint32_t, std::vector<std::uint32_t>>>& path,
                     const std::vector<std::uint32_t>& communities = {100, 200}) {
  Xdr body;
  body.u32(1).v4(nexthop).u32(own_as).u32(src_as).u32(src_peer_as);
  body.u32(static_cast<std::uint32_t>(path.size()));
  for (const auto& [type, asns] : path) {
    body.u32(type).u32(static_cast<std::uint32_t>(asns.size()));
    for (auto a : asns) body.u32(a);
  }
  body.u32(static_cast<std::uint32_t>(communities.size()));
  for (auto c : communities) body.u32(c);
  body.u32(100);  // localpref
  return Xdr{}.tagged(0, 1003, body.b).b;
}

// flow_sample (0:1): sequence, source_id, sampling_rate, sample_pool, drops, input, output, records.
Buf flow_sample(std::uint32_t rate, std::uint32_t input, std::uint32_t output, const std::vector<Buf>& records,
                std::uint32_t declared_records = ~0u) {
  Xdr body;
  body.u32(28696).u32(47).u32(rate).u32(26431550).u32(0).u32(input).u32(output);
  body.u32(declared_records == ~0u ? static_cast<std::uint32_t>(records.size()) : declared_records);
  for (const auto& r : records) body.raw(r);
  return Xdr{}.tagged(0, 1, body.b).b;
}
// flow_sample_expanded (0:3): sequence, source_id type + index, rate, pool, drops,
// input format + value, output format + value, records.
Buf flow_sample_expanded(std::uint32_t rate, std::uint32_t input, std::uint32_t output, const std::vector<Buf>& records) {
  Xdr body;
  body.u32(7).u32(0).u32(0x01000000).u32(rate).u32(1000).u32(0);
  body.u32(0).u32(input).u32(0).u32(output);
  body.u32(static_cast<std::uint32_t>(records.size()));
  for (const auto& r : records) body.raw(r);
  return Xdr{}.tagged(0, 3, body.b).b;
}
// counter_sample (0:2) with one generic interface counters record (0:1, 88 bytes of zeros).
Buf counter_sample(std::uint32_t format = 2) {
  Xdr record;
  record.tagged(0, 1, Buf(88, 0));
  Xdr body;
  if (format == 4) body.u32(9).u32(0).u32(47).u32(1).raw(record.b);
  else body.u32(9).u32(47).u32(1).raw(record.b);
  return Xdr{}.tagged(0, format, body.b).b;
}

// sample_datagram_v5: version, agent address (type + address), sub_agent_id, sequence, uptime, samples<>.
Buf datagram_v4(const std::vector<Buf>& samples, std::uint32_t sub_agent = 0, const char* agent = "192.0.2.1",
                std::uint32_t declared_samples = ~0u) {
  Xdr d;
  d.u32(5).u32(1).v4(agent).u32(sub_agent).u32(5908).u32(2294190);
  d.u32(declared_samples == ~0u ? static_cast<std::uint32_t>(samples.size()) : declared_samples);
  for (const auto& s : samples) d.raw(s);
  return d.b;
}
Buf datagram_v6(const std::vector<Buf>& samples, std::uint32_t sub_agent = 0) {
  Xdr d;
  d.u32(5).u32(2).v6("2001:db8::1").u32(sub_agent).u32(1).u32(1000).u32(static_cast<std::uint32_t>(samples.size()));
  for (const auto& s : samples) d.raw(s);
  return d.b;
}

constexpr std::int64_t kReceivedNs = 1'302'306'318'468'863'000;  // 2011-04-08T23:45:18.468863Z
constexpr std::int64_t kReceivedMs = 1'302'306'318'468;

struct Decoded {
  core::Result<std::size_t> result;
  std::vector<FlowRecord> flows;
  sflow::Stats stats;
};

Decoded decode(const Buf& bytes, const sflow::Limits& limits = {}) {
  Datagram d;
  d.exporter = *IpAddress::parse("198.51.100.7");
  d.exporter_port = 54321;
  d.received_ns = kReceivedNs;
  d.bytes = std::as_bytes(std::span(bytes));
  Decoded out{core::fail(Errc::not_flow_export, 0), {}, {}};
  out.result = sflow::decode(d, out.flows, out.stats, limits);
  return out;
}

// The usual sample: Ethernet / IPv4 / TCP, 10.0.0.1:60565 -> 10.0.0.2:36875, ToS 0x28, SYN+ACK.
Buf tcp_frame() {
  return ethernet(0x0800, cat(ipv4(6, 0x28, "10.0.0.1", "10.0.0.2", 1500), tcp(60565, 36875, 0x12)));
}

// ---- the datagram header ----

TEST(SflowV5Header, ReadsIpv4AgentSubAgentSequenceUptimeAndCount) {
  const Buf d = datagram_v4({counter_sample()}, 3, "192.0.2.9");
  const auto h = sflow::parse_header(std::as_bytes(std::span(d)));
  ASSERT_TRUE(h) << h.error().describe();
  EXPECT_EQ(h->agent, *IpAddress::parse("192.0.2.9"));
  EXPECT_EQ(h->sub_agent_id, 3u);
  EXPECT_EQ(h->sequence, 5908u);
  EXPECT_EQ(h->uptime_ms, 2294190u);
  EXPECT_EQ(h->sample_count, 1u);
  EXPECT_EQ(h->size, 28u);
}

TEST(SflowV5Header, ReadsIpv6Agent) {
  const Buf d = datagram_v6({});
  const auto h = sflow::parse_header(std::as_bytes(std::span(d)));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->agent, *IpAddress::parse("2001:db8::1"));
  EXPECT_EQ(h->size, 40u);
}

TEST(SflowV5Header, EveryShortPrefixIsShortHeader) {
  const Buf d = datagram_v4({});
  for (std::size_t n = 0; n < d.size(); ++n) {
    const auto r = decode(Buf(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n)));
    ASSERT_FALSE(r.result) << n;
    EXPECT_EQ(r.result.error().code, Errc::short_header) << n;
  }
  EXPECT_TRUE(decode(d).result);
}

TEST(SflowV5Header, UnknownAgentAddressTypeRefusesTheDatagram) {
  Xdr d;
  d.u32(5).u32(3).u32(0xc0000201).u32(0).u32(1).u32(1).u32(0);
  const auto r = decode(d.b);
  ASSERT_FALSE(r.result);
  EXPECT_EQ(r.result.error().code, Errc::bad_address_type);
  EXPECT_EQ(r.result.error().offset, 4u);
}

TEST(SflowV5Header, UnknownAgentAddressFallsBackToTheSender) {
  Xdr d;
  d.u32(5).u32(0).u32(0).u32(1).u32(1).u32(1).raw(flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())}));
  const auto r = decode(d.b);
  ASSERT_TRUE(r.result);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].exporter, *IpAddress::parse("198.51.100.7"));
}

TEST(SflowV5Header, OtherVersionIsBadVersion) {
  Xdr d;
  d.u32(4).u32(1).u32(0xc0000201).u32(0).u32(1).u32(1).u32(0);
  const auto r = decode(d.b);
  ASSERT_FALSE(r.result);
  EXPECT_EQ(r.result.error().code, Errc::bad_version);
}

// ---- flow samples ----

TEST(SflowV5FlowSample, EthernetIpv4TcpHeaderGivesEveryField) {
  // Input 48; output 0x80000003 is format 2 ("multiple interfaces") with value 3: the low 30 bits.
  const Buf d = datagram_v4({flow_sample(300, 48, 0x80000003u, {sampled_header(1, 1518, tcp_frame())})}, 0, "192.0.2.1");
  const auto r = decode(d);
  ASSERT_TRUE(r.result) << r.result.error().describe();
  ASSERT_EQ(*r.result, 1u);
  const FlowRecord& f = r.flows.at(0);
  EXPECT_EQ(f.src, *IpAddress::parse("10.0.0.1"));
  EXPECT_EQ(f.dst, *IpAddress::parse("10.0.0.2"));
  EXPECT_EQ(f.sport, 60565);
  EXPECT_EQ(f.dport, 36875);
  EXPECT_EQ(f.protocol, 6);
  EXPECT_EQ(f.tcp_flags, 0x12);
  EXPECT_EQ(f.tos, 0x28);
  EXPECT_EQ(f.pcount, 1u);
  EXPECT_EQ(f.bcount, 1518u);
  EXPECT_EQ(f.sampling_interval, 300u);
  EXPECT_EQ(f.input, 48u);
  EXPECT_EQ(f.output, 3u);
  EXPECT_EQ(f.exporter, *IpAddress::parse("192.0.2.1"));
  EXPECT_EQ(f.stime_ms, kReceivedMs);
  EXPECT_EQ(f.etime_ms, kReceivedMs);
  EXPECT_EQ(f.source_type, core::SourceType::sflow);
  EXPECT_EQ(f.source_version, 5);
  EXPECT_EQ(f.fields, core::kSrcAddr | core::kDstAddr | core::kPorts | core::kProtocol | core::kPackets |
                          core::kBytes | core::kTimes | core::kTcpFlags | core::kTos | core::kInterfaces);
  EXPECT_EQ(r.stats.flow_samples, 1u);
  EXPECT_EQ(r.stats.refused_samples, 0u);
}

TEST(SflowV5FlowSample, ExpandedSampleIpv6AgentIpv6UdpHeader) {
  // Header protocol 12 (IPv6): the header starts at the IPv6 header. Interfaces above 2^30 show
  // that the expanded form is not masked.
  const Buf pkt = cat(ipv6(17, 0xb8, "2001:db8::a", "2001:db8::b", 108), udp(5353, 53, 108));
  const Buf d = datagram_v6({flow_sample_expanded(1024, 0x40000001u, 0x7fffffffu, {sampled_header(12, 148, pkt, 0)})});
  const auto r = decode(d);
  ASSERT_TRUE(r.result) << r.result.error().describe();
  ASSERT_EQ(r.flows.size(), 1u);
  const FlowRecord& f = r.flows[0];
  EXPECT_EQ(f.src, *IpAddress::parse("2001:db8::a"));
  EXPECT_EQ(f.dst, *IpAddress::parse("2001:db8::b"));
  EXPECT_EQ(f.sport, 5353);
  EXPECT_EQ(f.dport, 53);
  EXPECT_EQ(f.protocol, 17);
  EXPECT_EQ(f.tos, 0xb8);
  EXPECT_EQ(f.bcount, 148u);
  EXPECT_EQ(f.sampling_interval, 1024u);
  EXPECT_EQ(f.input, 0x40000001u);
  EXPECT_EQ(f.output, 0x7fffffffu);
  EXPECT_EQ(f.exporter, *IpAddress::parse("2001:db8::1"));
  EXPECT_TRUE(f.has(core::kPorts));
  EXPECT_FALSE(f.has(core::kTcpFlags));
  EXPECT_FALSE(f.has(core::kIcmp));
}

TEST(SflowV5FlowSample, Ipv4IcmpHeaderGivesTypeAndCodeButNoPorts) {
  const Buf pkt = cat(ipv4(1, 0, "10.1.1.1", "10.2.2.2", 84), icmp(8, 0));  // echo request
  const auto r = decode(datagram_v4({flow_sample(512, 1, 2, {sampled_header(11, 84, pkt, 0)})}));
  ASSERT_TRUE(r.result);
  ASSERT_EQ(r.flows.size(), 1u);
  const FlowRecord& f = r.flows[0];
  EXPECT_EQ(f.protocol, 1);
  EXPECT_EQ(f.icmp_type, 8);
  EXPECT_EQ(f.icmp_code, 0);
  EXPECT_TRUE(f.has(core::kIcmp));
  EXPECT_FALSE(f.has(core::kPorts));
  EXPECT_FALSE(f.has(core::kTcpFlags));
}

TEST(SflowV5FlowSample, VlanTaggedFrameIsWalkedToTheIpHeader) {
  const Buf frame = ethernet(0x0800, cat(ipv4(17, 0, "10.9.9.9", "10.8.8.8", 60), udp(123, 123, 40)), 42);
  const auto r = decode(datagram_v4({flow_sample(100, 5, 6, {sampled_header(1, 78, frame)})}));
  ASSERT_TRUE(r.result);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].src, *IpAddress::parse("10.9.9.9"));
  EXPECT_EQ(r.flows[0].dst, *IpAddress::parse("10.8.8.8"));
  EXPECT_EQ(r.flows[0].sport, 123);
  EXPECT_EQ(r.flows[0].protocol, 17);
}

TEST(SflowV5FlowSample, HeaderCutBeforeTheTransportHeaderKeepsAddressesOnly) {
  Buf frame = tcp_frame();
  frame.resize(14 + 20 + 10);  // 10 bytes of TCP: ports but not the flags
  const auto r = decode(datagram_v4({flow_sample(100, 5, 6, {sampled_header(1, 1518, frame)})}));
  ASSERT_TRUE(r.result);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].src, *IpAddress::parse("10.0.0.1"));
  EXPECT_FALSE(r.flows[0].has(core::kPorts));
  EXPECT_FALSE(r.flows[0].has(core::kTcpFlags));
  EXPECT_TRUE(r.flows[0].has(core::kProtocol));
}

TEST(SflowV5FlowSample, NonIpFrameMakesNoRecordAndIsNotARefusal) {
  Buf arp(28, 0);
  const auto r = decode(datagram_v4({flow_sample(100, 5, 6, {sampled_header(1, 64, ethernet(0x0806, arp))})}));
  ASSERT_TRUE(r.result);
  EXPECT_EQ(*r.result, 0u);
  EXPECT_EQ(r.stats.flow_samples, 1u);
  EXPECT_EQ(r.stats.no_packet_samples, 1u);
  EXPECT_EQ(r.stats.refused_samples, 0u);
}

TEST(SflowV5FlowSample, SamplingRateBecomesTheSamplingInterval) {
  const auto r = decode(datagram_v4({flow_sample(1000, 1, 2, {sampled_header(1, 64, tcp_frame())})}));
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].sampling_interval, 1000u);
  EXPECT_EQ(r.flows[0].pcount, 1u);
  // One sample at 1:1000 stands for 1000 packets: at rate 1e-5 it is reported with p = 0.01.
  overflowd::sample::SamplerConfig config;
  config.rate = 1e-5;
  config.seed = 1;
  const overflowd::sample::Sampler sampler(config);
  EXPECT_DOUBLE_EQ(sampler.probability(r.flows[0]), 0.01);
}

TEST(SflowV5FlowSample, ZeroSamplingRateCountsAsOneInOne) {
  const auto r = decode(datagram_v4({flow_sample(0, 1, 2, {sampled_header(1, 64, tcp_frame())})}));
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].sampling_interval, 1u);
}

TEST(SflowV5FlowSample, SampledIpv4AndIpv6RecordsDescribeThePacket) {
  Xdr v4;
  v4.u32(576).u32(6).v4("10.3.3.3").v4("10.4.4.4").u32(443).u32(51000).u32(0x18).u32(0x10);
  Xdr v6;
  v6.u32(1280).u32(17).v6("2001:db8::3").v6("2001:db8::4").u32(4500).u32(4500).u32(0).u32(0);
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {Xdr{}.tagged(0, 3, v4.b).b}),
                                     flow_sample(10, 1, 2, {Xdr{}.tagged(0, 4, v6.b).b})}));
  ASSERT_TRUE(r.result);
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.flows[0].src, *IpAddress::parse("10.3.3.3"));
  EXPECT_EQ(r.flows[0].dport, 51000);
  EXPECT_EQ(r.flows[0].tcp_flags, 0x18);
  EXPECT_EQ(r.flows[0].tos, 0x10);
  EXPECT_EQ(r.flows[0].bcount, 576u);
  EXPECT_EQ(r.flows[1].dst, *IpAddress::parse("2001:db8::4"));
  EXPECT_EQ(r.flows[1].protocol, 17);
  EXPECT_EQ(r.flows[1].sport, 4500);
  EXPECT_FALSE(r.flows[1].has(core::kTcpFlags));
}

TEST(SflowV5FlowSample, FirstPacketRecordOfASampleWins) {
  const Buf other = ethernet(0x0800, cat(ipv4(17, 0, "10.7.7.7", "10.6.6.6", 60), udp(1, 2, 40)));
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()), sampled_header(1, 78, other)})}));
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].src, *IpAddress::parse("10.0.0.1"));
  EXPECT_EQ(r.flows[0].bcount, 1518u);
}

// ---- extended records ----

TEST(SflowV5Extended, SwitchRecordIsAcceptedAndAddsNothing) {
  const auto plain = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())})}));
  const auto with = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()), extended_switch()})}));
  ASSERT_EQ(with.flows.size(), 1u);
  EXPECT_EQ(with.flows[0].fields, plain.flows.at(0).fields);
  EXPECT_EQ(with.stats.unknown_records, 0u);
}

TEST(SflowV5Extended, RouterGivesNextHopAndMasks) {
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {extended_router_v4("10.0.0.254", 24, 16), sampled_header(1, 1518, tcp_frame())})}));
  ASSERT_EQ(r.flows.size(), 1u);
  const FlowRecord& f = r.flows[0];
  EXPECT_EQ(f.nexthop, *IpAddress::parse("10.0.0.254"));
  EXPECT_EQ(f.src_mask, 24);
  EXPECT_EQ(f.dst_mask, 16);
  EXPECT_TRUE(f.has(core::kNextHop));
  EXPECT_TRUE(f.has(core::kMasks));
  EXPECT_FALSE(f.has(core::kAsNumbers));
}

TEST(SflowV5Extended, RouterIpv6NextHop) {
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()), extended_router_v6("fe80::1", 64, 48)})}));
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].nexthop, *IpAddress::parse("fe80::1"));
  EXPECT_EQ(r.flows[0].dst_mask, 48);
}

TEST(SflowV5Extended, GatewayDstAsIsTheLastAsOfThePath) {
  // AS_SEQUENCE 64500 64501, then AS_SET {64510, 64511}: the last AS listed is 64511.
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()),
      extended_gateway("192.0.2.254", 65000, 64999, 64998, {{2, {64500, 64501}}, {1, {64510, 64511}}})})}));
  ASSERT_EQ(r.flows.size(), 1u);
  const FlowRecord& f = r.flows[0];
  EXPECT_EQ(f.src_as, 64999u);
  EXPECT_EQ(f.dst_as, 64511u);
  EXPECT_EQ(f.nexthop, *IpAddress::parse("192.0.2.254"));
  EXPECT_TRUE(f.has(core::kAsNumbers));
  EXPECT_TRUE(f.has(core::kNextHop));
  EXPECT_FALSE(f.has(core::kMasks));
}

TEST(SflowV5Extended, GatewayWithEmptyPathUsesTheRoutersOwnAs) {
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()),
      extended_gateway("192.0.2.254", 65000, 64999, 64998, {}, {})})}));
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].dst_as, 65000u);
  // An empty last segment does not hide the AS before it.
  const auto r2 = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()),
      extended_gateway("192.0.2.254", 65000, 64999, 64998, {{2, {64500}}, {2, {}}})})}));
  ASSERT_EQ(r2.flows.size(), 1u);
  EXPECT_EQ(r2.flows[0].dst_as, 64500u);
}

TEST(SflowV5Extended, RouterNextHopIsPreferredToTheGatewayNextHop) {
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {extended_gateway("192.0.2.254", 65000, 1, 2, {{2, {3}}}),
      sampled_header(1, 1518, tcp_frame()), extended_router_v4("10.0.0.254", 8, 8)})}));
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].nexthop, *IpAddress::parse("10.0.0.254"));
  EXPECT_TRUE(r.flows[0].has(core::kAsNumbers));
  EXPECT_TRUE(r.flows[0].has(core::kMasks));
}

// ---- what is skipped ----

TEST(SflowV5Skip, CounterSamplesAreCountedAndSkipped) {
  const auto r = decode(datagram_v4({counter_sample(2), flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())}),
                                     counter_sample(4)}));
  ASSERT_TRUE(r.result);
  EXPECT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.stats.counter_samples, 2u);
  EXPECT_EQ(r.stats.flow_samples, 1u);
}

TEST(SflowV5Skip, UnknownSampleFormatsAndEnterprisesAreSkippedByTheirLength) {
  const Buf discard = Xdr{}.tagged(0, 5, Buf(20, 0xee)).b;        // dropped-packet notification
  const Buf vendor = Xdr{}.tagged(4413, 1, Buf(13, 0xab)).b;      // another enterprise, odd length
  const Buf vendor_as_flow = Xdr{}.tagged(9, 1, Buf(8, 0xcd)).b;  // enterprise 9, format 1: not ours
  const auto r = decode(datagram_v4({discard, vendor, vendor_as_flow, flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())})}));
  ASSERT_TRUE(r.result) << r.result.error().describe();
  EXPECT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.stats.unknown_samples, 3u);
  EXPECT_EQ(r.stats.refused_samples, 0u);
}

TEST(SflowV5Skip, UnknownRecordsAndHeaderProtocolsAreSkipped) {
  const Buf vendor_record = Xdr{}.tagged(4413, 1002, Buf(6, 1)).b;  // enterprise != 0, a known format number
  const Buf mpls_record = Xdr{}.tagged(0, 1006, Buf(12, 0)).b;      // extended_mpls: not read
  const Buf ppp_header = sampled_header(7, 100, Buf(40, 0));        // header protocol PPP: not walked
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {vendor_record, mpls_record, ppp_header, sampled_header(1, 1518, tcp_frame())})}));
  ASSERT_TRUE(r.result);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].src, *IpAddress::parse("10.0.0.1"));
  EXPECT_FALSE(r.flows[0].has(core::kNextHop));  // the vendor's 1002 is not extended_router
  EXPECT_EQ(r.stats.unknown_records, 3u);
}

// ---- lengths that lie, and the caps ----

// Decodes a datagram of [good, bad, good] samples and checks that the bad one alone is refused.
void expect_sample_refused(const Buf& bad, Errc code, const sflow::Limits& limits = {}) {
  const Buf good = flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())});
  const auto r = decode(datagram_v4({good, bad, good}, 77), limits);
  ASSERT_TRUE(r.result) << r.result.error().describe();
  EXPECT_EQ(r.flows.size(), 2u);  // the good samples on both sides are kept
  EXPECT_EQ(r.stats.refused_samples, 1u);
  EXPECT_EQ(r.stats.refused_count(code), 1u) << "refused as " << r.stats.first_refusal.describe();
  EXPECT_EQ(r.stats.first_refusal.code, code);
  EXPECT_EQ(r.stats.first_refusal.version, 5);
  EXPECT_EQ(r.stats.first_refusal.domain, 77u);  // the sub-agent id
}

TEST(SflowV5Lies, SampleLengthPastTheDatagramEndsTheWalkKeepingEarlierSamples) {
  const Buf good = flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())});
  Buf d = datagram_v4({good, good}, 9);
  const std::size_t second = 28 + good.size();
  d[second + 4] = 0x00;  // the second sample's length: 0x00ffff.. -> far past the end
  d[second + 5] = 0xff;
  const auto r = decode(d);
  ASSERT_TRUE(r.result);
  EXPECT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.stats.refused_count(Errc::sample_length_overrun), 1u);
  EXPECT_EQ(r.stats.first_refusal.offset, second + 4);
  EXPECT_EQ(r.stats.first_refusal.domain, 9u);
}

TEST(SflowV5Lies, SampleLengthOneWordPastTheEnd) {
  const Buf good = flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())});
  Buf d = datagram_v4({good});
  d[28 + 7] = static_cast<std::uint8_t>(d[28 + 7] + 4);
  const auto r = decode(d);
  ASSERT_TRUE(r.result);
  EXPECT_EQ(r.flows.size(), 0u);
  EXPECT_EQ(r.stats.refused_count(Errc::sample_length_overrun), 1u);
}

TEST(SflowV5Lies, SampleCountLargerThanTheDatagramCouldHoldRefusesTheDatagram) {
  const Buf good = flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())});
  const auto r = decode(datagram_v4({good}, 5, "192.0.2.1", 1'000'000));
  ASSERT_FALSE(r.result);
  EXPECT_EQ(r.result.error().code, Errc::sample_count_overrun);
  EXPECT_EQ(r.result.error().offset, 24u);
  EXPECT_EQ(r.result.error().domain, 5u);
  EXPECT_TRUE(r.flows.empty());
}

TEST(SflowV5Lies, SampleCountLargerThanTheSamplesPresentKeepsThoseThatAre) {
  // Room for 8-byte samples, but the 2 real samples use it all: the third is missing.
  const Buf good = flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())});
  const auto r = decode(datagram_v4({good, good}, 0, "192.0.2.1", 3));
  ASSERT_TRUE(r.result);
  EXPECT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.stats.refused_count(Errc::sample_count_overrun), 1u);
}

TEST(SflowV5Lies, RecordLengthPastTheSample) {
  Buf bad = flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())});
  bad[8 + 32 + 4 + 2] = 0x10;  // the record's length (after the sample's tag, length and 32 fixed bytes)
  expect_sample_refused(bad, Errc::record_length_overrun);
}

TEST(SflowV5Lies, RecordCountLargerThanTheSampleCouldHold) {
  expect_sample_refused(flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())}, 1000), Errc::record_count_overrun);
}

TEST(SflowV5Lies, RecordCountLargerThanTheRecordsPresent) {
  expect_sample_refused(flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()), extended_switch()}, 3),
                        Errc::record_count_overrun);
}

TEST(SflowV5Lies, HeaderLengthPastTheRecord) {
  Xdr body;
  body.u32(1).u32(1518).u32(4).u32(200).raw(Buf(64, 0));  // says 200 header bytes, holds 64
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1, body.b).b}), Errc::header_length_overrun);
}

TEST(SflowV5Lies, FlowSampleShorterThanItsFixedFields) {
  expect_sample_refused(Xdr{}.tagged(0, 1, Buf(28, 0)).b, Errc::bad_sample);
  expect_sample_refused(Xdr{}.tagged(0, 3, Buf(40, 0)).b, Errc::bad_sample);
}

TEST(SflowV5Lies, RecordsShorterThanTheirFields) {
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1001, Buf(12, 0)).b}), Errc::short_record);
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1, Buf(12, 0)).b}), Errc::short_record);
  Xdr router;
  router.u32(1).v4("10.0.0.1").u32(24);  // dst_mask missing
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1002, router.b).b}), Errc::short_record);
  Xdr gateway;
  gateway.u32(2).raw(Buf(8, 0));  // IPv6 next hop cut after 8 bytes
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1003, gateway.b).b}), Errc::short_record);
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 3, Buf(28, 0)).b}), Errc::short_record);
}

TEST(SflowV5Lies, NextHopAddressTypeOtherThanV4OrV6) {
  Xdr router;
  router.u32(7).u32(0).u32(24).u32(24);
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1002, router.b).b}), Errc::bad_address_type);
}

TEST(SflowV5Lies, MaskLengthAbove128) {
  expect_sample_refused(flow_sample(10, 1, 2, {extended_router_v4("10.0.0.1", 24, 129)}), Errc::bad_mask_length);
}

TEST(SflowV5Lies, AsPathSegmentCountPastTheRecord) {
  Xdr body;
  body.u32(1).v4("10.0.0.1").u32(1).u32(2).u32(3).u32(5000).u32(2).u32(1).u32(64500).u32(0).u32(0);
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1003, body.b).b}), Errc::list_overrun);
}

TEST(SflowV5Lies, AsPathSegmentLengthPastTheRecord) {
  Xdr body;
  body.u32(1).v4("10.0.0.1").u32(1).u32(2).u32(3).u32(1).u32(2).u32(400).u32(64500).u32(0).u32(0);
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1003, body.b).b}), Errc::list_overrun);
}

TEST(SflowV5Lies, CommunitiesPastTheRecord) {
  Xdr body;
  body.u32(1).v4("10.0.0.1").u32(1).u32(2).u32(3).u32(0).u32(9).u32(1).u32(100);
  expect_sample_refused(flow_sample(10, 1, 2, {Xdr{}.tagged(0, 1003, body.b).b}), Errc::list_overrun);
}

TEST(SflowV5Lies, SampledHeaderThatIsNotTheDeclaredIpVersion) {
  const Buf v6pkt = cat(ipv6(17, 0, "2001:db8::a", "2001:db8::b", 8), udp(1, 2, 8));
  expect_sample_refused(flow_sample(10, 1, 2, {sampled_header(11, 48, v6pkt)}), Errc::bad_packet_header);
}

TEST(SflowV5Lies, SampledHeaderWithABrokenIpHeader) {
  Buf pkt = cat(ipv4(6, 0, "10.0.0.1", "10.0.0.2", 60), tcp(1, 2, 2));
  pkt[0] = 0x43;  // IHL 3: shorter than the fixed IPv4 header
  expect_sample_refused(flow_sample(10, 1, 2, {sampled_header(1, 74, ethernet(0x0800, pkt))}), Errc::bad_packet_header);
}

TEST(SflowV5Lies, TrailingBytesAfterTheLastSampleAreCounted) {
  Buf d = datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame())})});
  d.insert(d.end(), {0, 0, 0, 0});
  const auto r = decode(d);
  ASSERT_TRUE(r.result);
  EXPECT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.stats.refused_count(Errc::trailing_bytes), 1u);
}

TEST(SflowV5Caps, SamplesAboveTheCapRefuseTheDatagram) {
  sflow::Limits limits;
  limits.max_samples = 2;
  const Buf c = counter_sample();
  EXPECT_TRUE(decode(datagram_v4({c, c}), limits).result);
  const auto r = decode(datagram_v4({c, c, c}), limits);
  ASSERT_FALSE(r.result);
  EXPECT_EQ(r.result.error().code, Errc::sample_limit);
}

TEST(SflowV5Caps, RecordsAboveTheCap) {
  sflow::Limits limits;
  limits.max_records = 2;
  expect_sample_refused(flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()), extended_switch(), extended_switch()}),
                        Errc::record_limit, limits);
}

TEST(SflowV5Caps, HeaderAboveTheCap) {
  Buf big = tcp_frame();
  big.resize(300, 0x6e);
  expect_sample_refused(flow_sample(10, 1, 2, {sampled_header(1, 1518, big)}), Errc::header_limit);
  sflow::Limits limits;
  limits.max_header_bytes = 512;
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, big)})}), limits);
  EXPECT_EQ(r.flows.size(), 1u);
}

TEST(SflowV5Caps, AsPathAboveTheCaps) {
  sflow::Limits limits;
  limits.max_as_path_segments = 2;
  limits.max_as_path_length = 3;
  const Buf ok = extended_gateway("10.0.0.1", 1, 2, 3, {{2, {1, 2, 3}}, {2, {4}}});
  const auto r = decode(datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()), ok})}), limits);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].dst_as, 4u);
  expect_sample_refused(flow_sample(10, 1, 2, {extended_gateway("10.0.0.1", 1, 2, 3, {{2, {1}}, {2, {2}}, {2, {3}}})}),
                        Errc::as_path_limit, limits);
  expect_sample_refused(flow_sample(10, 1, 2, {extended_gateway("10.0.0.1", 1, 2, 3, {{2, {1, 2, 3, 4}}})}),
                        Errc::as_path_limit, limits);
}

TEST(SflowV5Robustness, EveryPrefixAndEveryByteFlipIsHandled) {
  const Buf d = datagram_v4({flow_sample(10, 1, 2, {sampled_header(1, 1518, tcp_frame()), extended_switch(),
                                                    extended_router_v4("10.0.0.254", 24, 16),
                                                    extended_gateway("192.0.2.254", 65000, 1, 2, {{2, {3, 4}}})}),
                             counter_sample(), flow_sample_expanded(5, 1, 2, {sampled_header(1, 1518, tcp_frame())})});
  ASSERT_EQ(decode(d).flows.size(), 2u);
  for (std::size_t n = 0; n <= d.size(); ++n) {
    const auto r = decode(Buf(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n)));
    EXPECT_LE(r.flows.size(), 2u);
  }
  for (std::size_t i = 0; i < d.size(); ++i) {
    for (std::uint8_t v : {std::uint8_t{0x00}, std::uint8_t{0xff}, std::uint8_t{0x80}}) {
      Buf m = d;
      m[i] = v;
      const auto r = decode(m);
      EXPECT_LE(r.flows.size(), 2u);
    }
  }
}

// ---- through the dispatcher ----

TEST(SflowV5Dispatch, CountsRecordsSkippedSamplesAndRefusalsButKeepsGoodSamples) {
  overflowd::decode::Dispatcher dispatcher;
  const Buf good = flow_sample(300, 1, 2, {sampled_header(1, 1518, tcp_frame())});
  Buf bad = good;
  bad[8 + 32 + 4 + 2] = 0x10;  // record length past the sample
  const Buf d = datagram_v4({good, counter_sample(), bad, good});
  Datagram dg;
  dg.received_ns = kReceivedNs;
  dg.bytes = std::as_bytes(std::span(d));
  std::vector<FlowRecord> out;
  const auto r = dispatcher.decode(dg, out);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 2u);
  EXPECT_EQ(out.size(), 2u);
  const auto p = static_cast<std::size_t>(Protocol::sflow_v5);
  const auto& c = dispatcher.counters();
  EXPECT_EQ(c.datagrams[p], 1u);
  EXPECT_EQ(c.records[p], 2u);
  EXPECT_EQ(c.skipped[p], 1u);
  EXPECT_EQ(c.rejected_count(Protocol::sflow_v5, Errc::record_length_overrun), 1u);

  // A datagram refused as a whole is counted once under its reason, and appends nothing.
  const Buf lying = datagram_v4({good}, 0, "192.0.2.1", 100000);
  dg.bytes = std::as_bytes(std::span(lying));
  EXPECT_FALSE(dispatcher.decode(dg, out));
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(c.rejected_count(Protocol::sflow_v5, Errc::sample_count_overrun), 1u);
  EXPECT_EQ(c.datagrams[p], 1u);
}

// ---- the shared capture (../shared/data/sflow.pcap), through the pcap source ----

std::filesystem::path shared_data() {
  if (const char* env = std::getenv("OVERFLOWD_SHARED_DATA"); env && *env) return env;
  return OVERFLOWD_SHARED_DATA;
}

TEST(SflowV5Capture, SflowPcapHoldsTheDocumentedSamples) {
  const auto path = shared_data() / "sflow.pcap";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent (a fresh clone has no ../shared/data)";
  auto source = overflowd::source::PcapSource::open(path.string());
  ASSERT_TRUE(source) << source.error();
  overflowd::decode::Dispatcher dispatcher;
  std::vector<FlowRecord> flows;
  Datagram d;
  std::size_t datagrams = 0;
  while ((*source)->next(d)) {
    ++datagrams;
    ASSERT_TRUE(dispatcher.decode(d, flows)) << "datagram " << datagrams;
  }
  EXPECT_EQ(datagrams, 1000u);
  const auto p = static_cast<std::size_t>(Protocol::sflow_v5);
  const auto& c = dispatcher.counters();
  EXPECT_EQ(c.datagrams[p], 1000u);
  EXPECT_EQ(c.records[p], 5855u);
  EXPECT_EQ(c.skipped[p], 502u);  // the counter samples
  EXPECT_EQ(c.total_rejected(), 0u);
  ASSERT_EQ(flows.size(), 5855u);

  const IpAddress a = *IpAddress::parse("192.168.1.2");
  const IpAddress b = *IpAddress::parse("192.168.1.3");
  std::size_t forward = 0, backward = 0;
  for (const FlowRecord& f : flows) {
    EXPECT_EQ(f.sampling_interval, 300u);
    EXPECT_EQ(f.protocol, 6);
    EXPECT_EQ(f.exporter, *IpAddress::parse("192.168.1.1"));
    if (f.src == a && f.sport == 60565 && f.dst == b && f.dport == 36875) ++forward;
    else if (f.src == b && f.sport == 36875 && f.dst == a && f.dport == 60565) ++backward;
  }
  EXPECT_EQ(forward, 3901u);
  EXPECT_EQ(backward, 1954u);
}

}  // namespace
