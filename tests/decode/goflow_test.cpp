// goflow2's flow messages: the protobuf ones are written by libprotobuf's generated code from
// proto/flow.proto (the independent reference) with its delimited writer, as goflow2 -format=bin
// frames them; the JSON ones are written as goflow2 -format=json renders them.
#include "decode/goflow.hpp"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/dispatch.hpp"
#include "proto/flow.pb.h"

namespace {

namespace goflow = overflowd::decode::goflow;
using overflowd::core::Datagram;
using overflowd::core::Errc;
using overflowd::core::FlowRecord;
using overflowd::core::IpAddress;
using overflowd::core::Protocol;
using overflowd::core::SourceType;

std::string bytes_of(const IpAddress& a) {
  return std::string(reinterpret_cast<const char*>(a.bytes().data()), a.size());
}

flowpb::FlowMessage sample_message() {
  flowpb::FlowMessage m;
  m.set_type(flowpb::FlowMessage::IPFIX);
  m.set_time_received_ns(1'700'000'001'000'000'000ull);
  m.set_sequence_num(77);
  m.set_sampling_rate(1000);
  m.set_sampler_address(bytes_of(*IpAddress::parse("192.0.2.9")));
  m.set_time_flow_start_ns(1'700'000'000'123'000'000ull);
  m.set_time_flow_end_ns(1'700'000'000'456'999'999ull);
  m.set_bytes(123456);
  m.set_packets(89);
  m.set_src_addr(bytes_of(*IpAddress::parse("198.51.100.7")));
  m.set_dst_addr(bytes_of(*IpAddress::parse("203.0.113.200")));
  m.set_etype(0x800);
  m.set_proto(6);
  m.set_src_port(44321);
  m.set_dst_port(443);
  m.set_in_if(12);
  m.set_out_if(34);
  m.set_src_mac(0x0011223344556677ull);
  m.set_ip_tos(0x28);
  m.set_tcp_flags(0x1b);
  m.set_src_as(64500);
  m.set_dst_as(4200000000u);
  m.set_next_hop(bytes_of(*IpAddress::parse("192.0.2.1")));
  m.set_src_net(24);
  m.set_dst_net(22);
  m.add_as_path(64500);
  m.add_as_path(64501);
  m.add_bgp_communities(1);
  m.add_layer_stack(flowpb::FlowMessage::IPv4);
  return m;
}

// goflow2 -format=bin: each message preceded by its varint length.
std::string delimited(const std::vector<flowpb::FlowMessage>& messages) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    for (const auto& m : messages) EXPECT_TRUE(google::protobuf::util::SerializeDelimitedToZeroCopyStream(m, &stream));
  }
  return out;
}

Datagram datagram_of(const std::string& bytes, Protocol format) {
  Datagram d;
  d.bytes = std::as_bytes(std::span(bytes.data(), bytes.size()));
  d.format = format;
  return d;
}

void expect_sample(const FlowRecord& f) {
  EXPECT_EQ(f.src, *IpAddress::parse("198.51.100.7"));
  EXPECT_EQ(f.dst, *IpAddress::parse("203.0.113.200"));
  EXPECT_EQ(f.nexthop, *IpAddress::parse("192.0.2.1"));
  EXPECT_EQ(f.exporter, *IpAddress::parse("192.0.2.9"));
  EXPECT_EQ(f.pcount, 89u);
  EXPECT_EQ(f.bcount, 123456u);
  EXPECT_EQ(f.stime_ms, 1'700'000'000'123);
  EXPECT_EQ(f.etime_ms, 1'700'000'000'456);
  EXPECT_EQ(f.input, 12u);
  EXPECT_EQ(f.output, 34u);
  EXPECT_EQ(f.src_as, 64500u);
  EXPECT_EQ(f.dst_as, 4200000000u);
  EXPECT_EQ(f.sampling_interval, 1000u);
  EXPECT_EQ(f.sport, 44321);
  EXPECT_EQ(f.dport, 443);
  EXPECT_EQ(f.protocol, 6);
  EXPECT_EQ(f.tcp_flags, 0x1b);
  EXPECT_EQ(f.tos, 0x28);
  EXPECT_EQ(f.src_mask, 24);
  EXPECT_EQ(f.dst_mask, 22);
  EXPECT_EQ(f.source_type, SourceType::ipfix);
  EXPECT_EQ(f.source_version, 10);
  EXPECT_TRUE(f.has(overflowd::core::kSrcAddr) && f.has(overflowd::core::kDstAddr) &&
              f.has(overflowd::core::kPorts) && f.has(overflowd::core::kTimes) && f.has(overflowd::core::kTcpFlags) &&
              f.has(overflowd::core::kNextHop));
  EXPECT_FALSE(f.has(overflowd::core::kIcmp));
}

TEST(GoflowPb, OneMessageMapsEveryField) {
  const std::string bytes = delimited({sample_message()});
  std::vector<FlowRecord> out;
  const auto n = goflow::decode_pb(datagram_of(bytes, Protocol::goflow_pb), out);
  ASSERT_TRUE(n) << n.error().describe();
  ASSERT_EQ(*n, 1u);
  expect_sample(out[0]);
}

TEST(GoflowPb, SeveralMessagesIpv6AndDefaults) {
  flowpb::FlowMessage a = sample_message();
  flowpb::FlowMessage b;  // IPv6 ICMPv6, no sampling rate, no sampler address, no times
  b.set_type(flowpb::FlowMessage::SFLOW_5);
  b.set_src_addr(bytes_of(*IpAddress::parse("2001:db8::1")));
  b.set_dst_addr(bytes_of(*IpAddress::parse("2001:db8:1::2")));
  b.set_proto(58);
  b.set_icmp_type(128);
  b.set_icmp_code(0);
  b.set_packets(1);
  b.set_bytes(64);
  const std::string bytes = delimited({a, b, a});
  Datagram d = datagram_of(bytes, Protocol::goflow_pb);
  d.exporter = *IpAddress::parse("127.0.0.1");
  std::vector<FlowRecord> out;
  const auto n = goflow::decode_pb(d, out);
  ASSERT_TRUE(n) << n.error().describe();
  ASSERT_EQ(*n, 3u);
  expect_sample(out[0]);
  expect_sample(out[2]);
  const FlowRecord& f = out[1];
  EXPECT_EQ(f.dst, *IpAddress::parse("2001:db8:1::2"));
  EXPECT_EQ(f.exporter, d.exporter);  // no sampler_address: the datagram's
  EXPECT_EQ(f.sampling_interval, 1u);  // 0 (none declared) is 1 in 1
  EXPECT_EQ(f.source_type, SourceType::sflow);
  EXPECT_EQ(f.source_version, 5);
  EXPECT_TRUE(f.has(overflowd::core::kIcmp));
  EXPECT_FALSE(f.has(overflowd::core::kPorts));
  EXPECT_FALSE(f.has(overflowd::core::kTimes));
  EXPECT_EQ(f.icmp_type, 128);
}

// Every refusal appends nothing and names its reason.
TEST(GoflowPb, RefusalsByReason) {
  const std::string good = delimited({sample_message()});
  const auto refused = [](const std::string& bytes) {
    std::vector<FlowRecord> out(2);  // appended to, never disturbed
    const auto n = goflow::decode_pb(datagram_of(bytes, Protocol::goflow_pb), out);
    EXPECT_EQ(out.size(), 2u);
    return n ? Errc::count_ : n.error().code;
  };
  EXPECT_EQ(refused(""), Errc::count_zero);
  EXPECT_EQ(refused(good.substr(0, good.size() - 1)), Errc::truncated_records);  // the length says more
  EXPECT_EQ(refused(good + "\x80"), Errc::bad_varint);                           // a length that never ends
  EXPECT_EQ(refused(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10)), Errc::bad_varint);  // > 64 bits
  // A message whose inner field runs past its own length.
  EXPECT_EQ(refused(std::string("\x03\x32\x05\x01", 4)), Errc::field_overrun);   // src_addr: 5 bytes, 1 there
  EXPECT_EQ(refused(std::string("\x05\x32\x03\x01\x02\x03", 6)), Errc::bad_address_length);
  EXPECT_EQ(refused(std::string("\x02\x33\x00", 3)), Errc::bad_wire_type);       // field 6, wire 3 (a group)
  EXPECT_EQ(refused(std::string("\x02\x30\x01", 3)), Errc::bad_wire_type);       // src_addr as a varint
  EXPECT_EQ(refused(std::string("\x02\x00\x00", 3)), Errc::bad_wire_type);       // field number 0
  EXPECT_EQ(refused(std::string("\x03\xa0\x01\x80", 4)), Errc::bad_varint);      // proto: varint cut
  EXPECT_EQ(refused(std::string("\x04\xa0\x01\x80\x02", 5)), Errc::bad_field_value);  // proto 256
  // A good message then a bad one: nothing of the first is kept either.
  EXPECT_EQ(refused(good + std::string("\x02\x00\x00", 3)), Errc::bad_wire_type);
  // Over the cap of flows per message.
  std::string many;
  for (std::size_t i = 0; i <= goflow::kMaxFlowsPerMessage; ++i) many += std::string("\x03\xa0\x01\x06", 4);
  EXPECT_EQ(refused(many), Errc::record_limit);
}

TEST(GoflowPb, UnknownAndPackedFieldsAreSkipped) {
  // fixed64 and fixed32 fields of numbers we do not know, and an empty message (all defaults).
  std::string m = std::string("\x81\x7d", 2) + std::string(8, '\x01') + std::string("\x85\x7d", 2) + std::string(4, '\x02');
  std::string bytes = std::string(1, static_cast<char>(m.size())) + m + std::string(1, '\0');
  std::vector<FlowRecord> out;
  const auto n = goflow::decode_pb(datagram_of(bytes, Protocol::goflow_pb), out);
  ASSERT_TRUE(n) << n.error().describe();
  EXPECT_EQ(*n, 2u);
}

TEST(GoflowPb, DispatcherCountsByFormatAndReason) {
  overflowd::decode::Dispatcher dispatcher;
  const std::string good = delimited({sample_message(), sample_message()});
  std::vector<FlowRecord> out;
  ASSERT_TRUE(dispatcher.decode(datagram_of(good, Protocol::goflow_pb), out));
  EXPECT_FALSE(dispatcher.decode(datagram_of("\x80", Protocol::goflow_pb), out));
  EXPECT_FALSE(dispatcher.decode(datagram_of("{", Protocol::goflow_json), out));
  const auto& c = dispatcher.counters();
  EXPECT_EQ(c.datagrams[static_cast<std::size_t>(Protocol::goflow_pb)], 1u);
  EXPECT_EQ(c.records[static_cast<std::size_t>(Protocol::goflow_pb)], 2u);
  EXPECT_EQ(c.rejected_count(Protocol::goflow_pb, Errc::bad_varint), 1u);
  EXPECT_EQ(c.rejected_count(Protocol::goflow_json, Errc::bad_json), 1u);
  std::vector<overflowd::core::NamedCount> named;
  c.append_to(named);
  bool found = false;
  for (const auto& nc : named) found |= nc.name == "goflow_pb.rejected.bad_varint" && nc.value == 1;
  EXPECT_TRUE(found);
}

// As goflow2 -format=json renders a flow (addresses as text, proto by name, nets as prefixes).
TEST(GoflowJson, RenderedMessageMapsEveryField) {
  const std::string json =
      R"({"type":"IPFIX","time_received_ns":1700000001000000000,"sequence_num":77,"sampling_rate":1000,)"
      R"("sampler_address":"192.0.2.9","time_flow_start_ns":1700000000123000000,"time_flow_end_ns":1700000000456999999,)"
      R"("bytes":123456,"packets":89,"src_addr":"198.51.100.7","dst_addr":"203.0.113.200","etype":"IPv4",)"
      R"("proto":"TCP","src_port":44321,"dst_port":443,"in_if":12,"out_if":34,"src_mac":"00:11:22:33:44:55",)"
      R"("dst_mac":"00:00:00:00:00:00","ip_tos":40,"tcp_flags":27,"icmp_type":0,"icmp_code":0,"src_as":64500,)"
      R"("dst_as":4200000000,"next_hop":"192.0.2.1","next_hop_as":0,"src_net":"198.51.100.0/24",)"
      R"("dst_net":"203.0.112.0/22","bgp_communities":[1],"as_path":[64500,64501],"layer_stack":["IPv4"]})";
  std::vector<FlowRecord> out;
  const auto n = goflow::decode_json(datagram_of(json, Protocol::goflow_json), out);
  ASSERT_TRUE(n) << n.error().describe();
  ASSERT_EQ(out.size(), 1u);
  expect_sample(out[0]);
}

TEST(GoflowJson, NumbersForNamesAndRefusals) {
  std::vector<FlowRecord> out;
  const std::string numeric = R"({"type":4,"proto":17,"src_addr":"2001:db8::1","dst_addr":"2001:db8::2","src_port":5,"dst_port":53,"src_net":64,"next_hop":""})";
  ASSERT_TRUE(goflow::decode_json(datagram_of(numeric, Protocol::goflow_json), out));
  EXPECT_EQ(out.back().protocol, 17);
  EXPECT_EQ(out.back().dport, 53);
  EXPECT_EQ(out.back().src_mask, 64);
  EXPECT_TRUE(out.back().nexthop.empty());
  const auto reason = [&](const std::string& text) {
    const auto n = goflow::decode_json(datagram_of(text, Protocol::goflow_json), out);
    return n ? Errc::count_ : n.error().code;
  };
  EXPECT_EQ(reason(""), Errc::count_zero);
  EXPECT_EQ(reason("{\"bytes\":1"), Errc::bad_json);
  EXPECT_EQ(reason("[1,2]"), Errc::bad_json);
  EXPECT_EQ(reason(R"({"bytes":-1})"), Errc::bad_field_value);
  EXPECT_EQ(reason(R"({"bytes":"many"})"), Errc::bad_field_value);
  EXPECT_EQ(reason(R"({"proto":"NOPE"})"), Errc::bad_field_value);
  EXPECT_EQ(reason(R"({"dst_port":70000,"proto":6})"), Errc::bad_field_value);
  EXPECT_EQ(reason(R"({"dst_addr":"300.1.2.3"})"), Errc::bad_field_value);
  EXPECT_EQ(reason(R"({"dst_addr":7})"), Errc::bad_field_value);
}

}  // namespace
