// The dispatcher picks a decoder from the first bytes of a payload (NetFlow v5/v9 and IPFIX carry a
// 16-bit version first; sFlow v5 a 32-bit one), never from the port, and counts every outcome.
#include "decode/dispatch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "support/byte_builder.hpp"

namespace {

using overflowd::core::Datagram;
using overflowd::core::Errc;
using overflowd::core::FlowRecord;
using overflowd::core::NamedCount;
using overflowd::core::Protocol;
using overflowd::decode::Dispatcher;
using overflowd::decode::sniff;
using overflowd::test::ByteBuilder;

std::size_t idx(Protocol p) { return static_cast<std::size_t>(p); }

ByteBuilder netflow_v5(std::uint16_t count) {
  ByteBuilder b;
  b.u16(5).u16(count).u32(1000).u32(1'700'000'000).u32(0).u32(0).u8(0).u8(0).u16(0);
  for (std::uint16_t i = 0; i < count; ++i) {
    b.u32(0xc0000201).u32(0xc6336402).u32(0).u16(1).u16(2).u32(10).u32(1000).u32(900).u32(990);
    b.u16(1234).u16(80).u8(0).u8(0x02).u8(6).u8(0).u16(0).u16(0).u8(24).u8(24).u16(0);
  }
  return b;
}

Datagram wrap(const ByteBuilder& b) {
  Datagram d;
  d.bytes = b.span();
  return d;
}

// ---- sniff ----

TEST(Sniff, NetflowV5) {
  EXPECT_EQ(sniff(netflow_v5(1).span()), Protocol::netflow_v5);
  ByteBuilder b;
  b.raw({0x00, 0x05, 0xff, 0xff});  // any count: the version alone decides
  EXPECT_EQ(sniff(b.span()), Protocol::netflow_v5);
}

TEST(Sniff, NetflowV9) {
  ByteBuilder b;
  b.u16(9).u16(3).u32(123).u32(1'700'000'000).u32(1).u32(0);  // RFC 3954 header
  EXPECT_EQ(sniff(b.span()), Protocol::netflow_v9);
}

TEST(Sniff, Ipfix) {
  ByteBuilder b;
  b.u16(10).u16(16).u32(1'700'000'000).u32(1).u32(0);  // RFC 7011 message header
  EXPECT_EQ(sniff(b.span()), Protocol::ipfix);
}

TEST(Sniff, SflowV5) {
  ByteBuilder b;
  b.u32(5).u32(1).u32(0xc0a80101).u32(0).u32(1).u32(1000).u32(0);  // sFlow v5 datagram header
  EXPECT_EQ(sniff(b.span()), Protocol::sflow_v5);
}

TEST(Sniff, GarbageIsNotAFlowExport) {
  for (const char* text : {"GET / HTTP/1.1", "\x00\x06\x00\x01", "\x00\x00\x00\x04", "\x00\x00\x00\x06",
                           "\xff\xff\xff\xff", "\x05\x00\x00\x00", "\x00\x00\x00\x00"}) {
    ByteBuilder b;
    for (std::size_t i = 0; i < 4 || text[i]; ++i) b.u8(static_cast<std::uint8_t>(text[i]));
    EXPECT_EQ(sniff(b.span()), Protocol::packet) << text;
  }
}

TEST(Sniff, FewerThanFourBytesIsNotAFlowExport) {
  ByteBuilder b;
  EXPECT_EQ(sniff(b.span()), Protocol::packet);
  b.u8(0);
  EXPECT_EQ(sniff(b.span()), Protocol::packet);
  b.u8(5);
  EXPECT_EQ(sniff(b.span()), Protocol::packet);  // starts like v5, but only 2 bytes
  b.u8(0);
  EXPECT_EQ(sniff(b.span()), Protocol::packet);
  b.u8(1);
  EXPECT_EQ(sniff(b.span()), Protocol::netflow_v5);
}

// ---- counting ----

TEST(Dispatcher, AcceptedDatagramsAndRecordsAreCountedPerProtocol) {
  Dispatcher dispatcher;
  std::vector<FlowRecord> out;
  const auto a = netflow_v5(3), b = netflow_v5(30);
  ASSERT_TRUE(dispatcher.decode(wrap(a), out));
  ASSERT_TRUE(dispatcher.decode(wrap(b), out));
  EXPECT_EQ(out.size(), 33u);
  const auto& c = dispatcher.counters();
  EXPECT_EQ(c.datagrams[idx(Protocol::netflow_v5)], 2u);
  EXPECT_EQ(c.records[idx(Protocol::netflow_v5)], 33u);
  EXPECT_EQ(c.total_rejected(), 0u);
}

TEST(Dispatcher, GarbageIsCountedAsNotAFlowExport) {
  Dispatcher dispatcher;
  std::vector<FlowRecord> out;
  ByteBuilder garbage;
  garbage.raw({'G', 'E', 'T', ' ', '/'});
  ByteBuilder tiny;
  tiny.raw({0x00, 0x05});
  for (const auto* b : {&garbage, &tiny}) {
    const auto r = dispatcher.decode(wrap(*b), out);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::not_flow_export);
  }
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(dispatcher.counters().rejected_count(Protocol::packet, Errc::not_flow_export), 2u);
  EXPECT_EQ(dispatcher.counters().total_rejected(), 2u);
}

TEST(Dispatcher, RefusalIsCountedUnderTheSniffedProtocolAndTheReturnedReason) {
  // Headers cut after the version: refused by any decoder for these protocols, whatever it is.
  struct Case {
    std::vector<std::uint8_t> bytes;
    Protocol protocol;
  };
  const Case cases[] = {{{0x00, 0x05, 0x00, 0x01}, Protocol::netflow_v5},
                        {{0x00, 0x09, 0x00, 0x01}, Protocol::netflow_v9},
                        {{0x00, 0x0a, 0x00, 0x10}, Protocol::ipfix},
                        {{0x00, 0x00, 0x00, 0x05}, Protocol::sflow_v5}};
  for (const auto& c : cases) {
    ByteBuilder b;
    for (auto x : c.bytes) b.u8(x);
    Dispatcher dispatcher;
    std::vector<FlowRecord> out;
    const auto r = dispatcher.decode(wrap(b), out);
    ASSERT_FALSE(r) << overflowd::core::to_string(c.protocol);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(dispatcher.counters().rejected_count(c.protocol, r.error().code), 1u)
        << overflowd::core::to_string(c.protocol);
    EXPECT_EQ(dispatcher.counters().total_rejected(), 1u);
    EXPECT_EQ(dispatcher.counters().datagrams[idx(c.protocol)], 0u);
  }
}

TEST(Dispatcher, NetflowV5RefusalReasonIsCounted) {
  Dispatcher dispatcher;
  std::vector<FlowRecord> out;
  auto b = netflow_v5(2);
  b.u8(0);  // one trailing byte
  const auto r = dispatcher.decode(wrap(b), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::trailing_bytes);
  EXPECT_EQ(dispatcher.counters().rejected_count(Protocol::netflow_v5, Errc::trailing_bytes), 1u);
}

TEST(Dispatcher, CountersAreNamedAndMerged) {
  Dispatcher a, b;
  std::vector<FlowRecord> out;
  const auto good = netflow_v5(2);
  ByteBuilder garbage;
  garbage.raw({1, 2, 3, 4, 5});
  ASSERT_TRUE(a.decode(wrap(good), out));
  ASSERT_FALSE(b.decode(wrap(garbage), out));
  ASSERT_TRUE(b.decode(wrap(good), out));

  auto merged = a.counters();
  merged.merge(b.counters());
  std::vector<NamedCount> named;
  merged.append_to(named);
  const std::vector<NamedCount> want = {{"packet.rejected.not_flow_export", 1},
                                        {"netflow_v5.datagrams", 2},
                                        {"netflow_v5.records", 4}};
  EXPECT_EQ(named, want);
}

}  // namespace
