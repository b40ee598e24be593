// Frames written byte by byte from the link-layer and IP specifications:
//   Ethernet II (dst, src, EtherType), IEEE 802.1Q / 802.1ad tags (TPID 0x8100 / 0x88a8, TCI),
//   Linux cooked capture v1 (16 bytes) and v2 (20 bytes), BSD loopback (4-byte family),
//   IPv4 (RFC 791), IPv6 (RFC 8200) with its extension headers, UDP (RFC 768).
#include "decode/packet_walk.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "support/byte_builder.hpp"

namespace {

using overflowd::core::Errc;
using overflowd::decode::walk_to_udp;
using overflowd::test::ByteBuilder;
namespace d = overflowd::decode;

constexpr std::uint32_t kSrc4 = 0xc0000201;  // 192.0.2.1
constexpr std::uint32_t kDst4 = 0xc6336402;  // 198.51.100.2

ByteBuilder payload(std::size_t n) {
  ByteBuilder b;
  for (std::size_t i = 0; i < n; ++i) b.u8(static_cast<std::uint8_t>(0x40 + i % 64));
  return b;
}

// UDP header + payload; `length` overrides the length field.
ByteBuilder udp(const ByteBuilder& data, std::uint16_t sport = 35467, std::uint16_t dport = 9500,
                int length = -1) {
  ByteBuilder b;
  b.u16(sport).u16(dport);
  b.u16(length >= 0 ? static_cast<std::uint16_t>(length) : static_cast<std::uint16_t>(8 + data.size()));
  b.u16(0);  // no checksum
  b.append(data.span());
  return b;
}

struct Ipv4Options {
  std::uint8_t protocol = 17;
  std::uint16_t flags_fragment = 0x4000;  // DF
  int total_length = -1;                  // override
  std::uint8_t ihl = 5;
  std::uint8_t tos = 0;
  std::uint8_t version = 4;
};

ByteBuilder ipv4(const ByteBuilder& l4, const Ipv4Options& o = {}) {
  ByteBuilder b;
  const std::size_t header = std::size_t{o.ihl} * 4;
  b.u8(static_cast<std::uint8_t>((o.version << 4) | o.ihl)).u8(o.tos);
  b.u16(o.total_length >= 0 ? static_cast<std::uint16_t>(o.total_length)
                            : static_cast<std::uint16_t>(std::max<std::size_t>(header, 20) + l4.size()));
  b.u16(0x1234);  // identification
  b.u16(o.flags_fragment);
  b.u8(64).u8(o.protocol).u16(0);  // ttl, protocol, checksum (not checked)
  b.u32(kSrc4).u32(kDst4);
  for (std::size_t i = 20; i < header; ++i) b.u8(1);  // NOP options
  b.append(l4.span());
  return b;
}

const std::uint8_t kSrc6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
const std::uint8_t kDst6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

ByteBuilder ipv6(std::uint8_t next_header, const ByteBuilder& rest, int payload_length = -1) {
  ByteBuilder b;
  b.u32(0x60000000u | (0xb8u << 20));  // version 6, traffic class 0xb8, no flow label
  b.u16(payload_length >= 0 ? static_cast<std::uint16_t>(payload_length) : static_cast<std::uint16_t>(rest.size()));
  b.u8(next_header).u8(64);
  for (auto x : kSrc6) b.u8(x);
  for (auto x : kDst6) b.u8(x);
  b.append(rest.span());
  return b;
}

ByteBuilder ethernet(std::uint16_t ethertype, const ByteBuilder& inner, std::initializer_list<std::uint16_t> tags = {}) {
  ByteBuilder b;
  b.raw({0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1});
  for (auto tpid : tags) b.u16(tpid).u16(0x0064);  // TPID, TCI (VLAN 100)
  b.u16(ethertype);
  b.append(inner.span());
  return b;
}


void expect_udp_ok(std::uint32_t link, const ByteBuilder& frame, const ByteBuilder& want_payload, bool v6 = false) {
  const auto r = walk_to_udp(link, frame.span());
  ASSERT_TRUE(r) << overflowd::core::to_string(r.error().code);
  EXPECT_EQ(r->src.to_string(), v6 ? "2001:db8::1" : "192.0.2.1");
  EXPECT_EQ(r->dst.to_string(), v6 ? "2001:db8::2" : "198.51.100.2");
  EXPECT_EQ(r->sport, 35467);
  EXPECT_EQ(r->dport, 9500);
  ASSERT_EQ(r->payload.size(), want_payload.size());
  EXPECT_TRUE(std::equal(r->payload.begin(), r->payload.end(), want_payload.bytes().begin()));
}

void expect_refused(std::uint32_t link, const ByteBuilder& frame, Errc want) {
  const auto r = walk_to_udp(link, frame.span());
  ASSERT_FALSE(r) << "accepted a frame that should be " << overflowd::core::to_string(want);
  EXPECT_EQ(r.error().code, want) << "got " << overflowd::core::to_string(r.error().code) << ", want "
                                  << overflowd::core::to_string(want);
}

// ---- link layers ----

TEST(PacketWalk, EthernetIpv4Udp) {
  const auto data = payload(100);
  expect_udp_ok(d::kLinkEthernet, ethernet(0x0800, ipv4(udp(data))), data);
}

TEST(PacketWalk, EthernetIpv6Udp) {
  const auto data = payload(100);
  expect_udp_ok(d::kLinkEthernet, ethernet(0x86dd, ipv6(17, udp(data))), data, true);
}

TEST(PacketWalk, Vlan8021Q) {
  const auto data = payload(50);
  expect_udp_ok(d::kLinkEthernet, ethernet(0x0800, ipv4(udp(data)), {0x8100}), data);
}

TEST(PacketWalk, QinQ8021ad) {
  const auto data = payload(50);
  expect_udp_ok(d::kLinkEthernet, ethernet(0x0800, ipv4(udp(data)), {0x88a8, 0x8100}), data);
  expect_udp_ok(d::kLinkEthernet, ethernet(0x86dd, ipv6(17, udp(data)), {0x9100, 0x8100}), data, true);
}

TEST(PacketWalk, TooManyVlanTagsIsNotIp) {
  expect_refused(d::kLinkEthernet, ethernet(0x0800, ipv4(udp(payload(8))), {0x8100, 0x8100, 0x8100, 0x8100, 0x8100}),
                 Errc::not_ip);
}

TEST(PacketWalk, EthernetNonIpIsNotIp) {
  expect_refused(d::kLinkEthernet, ethernet(0x0806, payload(28)), Errc::not_ip);  // ARP
}

TEST(PacketWalk, ShortEthernetHeader) {
  ByteBuilder b;
  b.raw({0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08});
  expect_refused(d::kLinkEthernet, b, Errc::short_link_header);
  // A VLAN tag cut off before its EtherType.
  ByteBuilder tag;
  tag.raw({0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x64});
  expect_refused(d::kLinkEthernet, tag, Errc::short_link_header);
}

TEST(PacketWalk, LinuxCookedV1) {
  const auto data = payload(40);
  ByteBuilder b;
  b.u16(0).u16(1).u16(6).raw({0x02, 0, 0, 0, 0, 1, 0, 0});  // packet type, ARPHRD_ETHER, address
  b.u16(0x0800);
  b.append(ipv4(udp(data)).span());
  expect_udp_ok(d::kLinkLinuxSll, b, data);

  ByteBuilder b6;
  b6.u16(4).u16(1).u16(6).raw({0x02, 0, 0, 0, 0, 1, 0, 0}).u16(0x86dd);
  b6.append(ipv6(17, udp(data)).span());
  expect_udp_ok(d::kLinkLinuxSll, b6, data, true);

  ByteBuilder short_header;
  short_header.u16(0).u16(1).u16(6).raw({0x02, 0, 0, 0, 0, 1, 0, 0}).u8(0x08);
  expect_refused(d::kLinkLinuxSll, short_header, Errc::short_link_header);
}

TEST(PacketWalk, LinuxCookedV2) {
  const auto data = payload(40);
  ByteBuilder b;
  b.u16(0x0800).u16(0);  // protocol, reserved
  b.u32(3);              // interface index
  b.u16(1).u8(0).u8(6);  // ARPHRD_ETHER, packet type, address length
  b.raw({0x02, 0, 0, 0, 0, 1, 0, 0});
  ASSERT_EQ(b.size(), 20u);
  b.append(ipv4(udp(data)).span());
  expect_udp_ok(d::kLinkLinuxSll2, b, data);

  ByteBuilder b6;
  b6.u16(0x86dd).u16(0).u32(3).u16(1).u8(0).u8(6).raw({0x02, 0, 0, 0, 0, 1, 0, 0});
  b6.append(ipv6(17, udp(data)).span());
  expect_udp_ok(d::kLinkLinuxSll2, b6, data, true);

  ByteBuilder short_header;
  short_header.u16(0x0800).u16(0).u32(3).u16(1);
  expect_refused(d::kLinkLinuxSll2, short_header, Errc::short_link_header);
}

TEST(PacketWalk, BsdNullLoopbackInEitherByteOrder) {
  const auto data = payload(30);
  ByteBuilder le;
  le.u32le(2).append(ipv4(udp(data)).span());  // AF_INET in the writer's (little-endian) order
  expect_udp_ok(d::kLinkNull, le, data);
  ByteBuilder be;
  be.u32(2).append(ipv4(udp(data)).span());  // a big-endian writer
  expect_udp_ok(d::kLinkNull, be, data);
  for (std::uint32_t af_inet6 : {10u, 24u, 28u, 30u}) {  // Linux, NetBSD/OpenBSD, FreeBSD, macOS
    ByteBuilder b6;
    b6.u32le(af_inet6).append(ipv6(17, udp(data)).span());
    SCOPED_TRACE(af_inet6);
    expect_udp_ok(d::kLinkNull, b6, data, true);
  }
  ByteBuilder other;
  other.u32le(7).append(ipv4(udp(data)).span());
  expect_refused(d::kLinkNull, other, Errc::not_ip);
  ByteBuilder cut;
  cut.raw({2, 0, 0});
  expect_refused(d::kLinkNull, cut, Errc::short_link_header);
}

TEST(PacketWalk, OpenBsdLoopInNetworkOrder) {
  const auto data = payload(30);
  ByteBuilder b;
  b.u32(2).append(ipv4(udp(data)).span());
  expect_udp_ok(d::kLinkLoop, b, data);
}

TEST(PacketWalk, RawIpv4AndIpv6) {
  const auto data = payload(64);
  expect_udp_ok(d::kLinkRaw, ipv4(udp(data)), data);
  expect_udp_ok(d::kLinkRaw, ipv6(17, udp(data)), data, true);
  expect_udp_ok(d::kLinkIpv4, ipv4(udp(data)), data);
  expect_udp_ok(d::kLinkIpv6, ipv6(17, udp(data)), data, true);
}

TEST(PacketWalk, RawFrameThatIsNeitherIpv4NorIpv6) {
  expect_refused(d::kLinkRaw, ipv4(udp(payload(8)), {.version = 5}), Errc::not_ip);
  expect_refused(d::kLinkRaw, ByteBuilder{}, Errc::bad_ip_header);
}

TEST(PacketWalk, UnsupportedLinkType) {
  const auto frame = ipv4(udp(payload(8)));
  for (std::uint32_t link : {105u /* 802.11 */, 127u /* radiotap */, 147u, 9999u}) {
    EXPECT_FALSE(d::link_type_supported(link));
    expect_refused(link, frame, Errc::unsupported_link_type);
  }
  for (std::uint32_t link : {0u, 1u, 101u, 108u, 113u, 228u, 229u, 276u}) EXPECT_TRUE(d::link_type_supported(link));
}

// ---- IPv4 ----

TEST(PacketWalk, Ipv4OptionsAreSkipped) {
  const auto data = payload(20);
  expect_udp_ok(d::kLinkRaw, ipv4(udp(data), {.ihl = 7}), data);
}

TEST(PacketWalk, Ipv4HeaderShorterThanTwentyBytesIsBad) {
  expect_refused(d::kLinkRaw, ipv4(udp(payload(8)), {.ihl = 4}), Errc::bad_ip_header);
  const auto whole = ipv4(udp(payload(8)));
  ByteBuilder cut;
  cut.append(whole.span().first(19));
  expect_refused(d::kLinkRaw, cut, Errc::bad_ip_header);
}

TEST(PacketWalk, Ipv4TotalLengthBelowTheHeaderIsBad) {
  expect_refused(d::kLinkRaw, ipv4(udp(payload(8)), {.total_length = 19}), Errc::bad_ip_header);
  expect_refused(d::kLinkRaw, ipv4(udp(payload(8)), {.total_length = 23, .ihl = 6}), Errc::bad_ip_header);
}

TEST(PacketWalk, IpPayloadTooShortForAUdpHeaderIsABadUdpHeader) {
  // Fully captured, but the IP total length leaves 0 or 4 bytes for the 8-byte UDP header: the
  // packet is malformed, not cut by the capture.
  expect_refused(d::kLinkRaw, ipv4(udp(payload(8)), {.total_length = 20}), Errc::bad_udp_header);
  expect_refused(d::kLinkRaw, ipv4(udp(payload(8)), {.total_length = 24}), Errc::bad_udp_header);
  expect_refused(d::kLinkRaw, ipv4(udp(payload(8)), {.total_length = 24, .ihl = 6}), Errc::bad_udp_header);
  expect_refused(d::kLinkRaw, ipv6(17, udp(payload(8)), 4), Errc::bad_udp_header);
}

TEST(PacketWalk, Ipv4MoreFragmentsIsAFragment) {
  expect_refused(d::kLinkRaw, ipv4(udp(payload(64)), {.flags_fragment = 0x2000}), Errc::ip_fragment);
}

TEST(PacketWalk, Ipv4NonZeroOffsetIsAFragment) {
  expect_refused(d::kLinkRaw, ipv4(payload(64), {.flags_fragment = 0x0001}), Errc::ip_fragment);  // last fragment
  expect_refused(d::kLinkRaw, ipv4(payload(64), {.flags_fragment = 0x2000 | 0x00b9}), Errc::ip_fragment);
}

TEST(PacketWalk, Ipv4DontFragmentAloneIsNotAFragment) {
  const auto data = payload(10);
  expect_udp_ok(d::kLinkRaw, ipv4(udp(data), {.flags_fragment = 0x4000}), data);
  expect_udp_ok(d::kLinkRaw, ipv4(udp(data), {.flags_fragment = 0x0000}), data);
}

TEST(PacketWalk, NonUdpIsNotUdp) {
  ByteBuilder tcp;
  tcp.u16(2968).u16(80).u32(1).u32(0).u8(0x50).u8(0x02).u16(65535).u16(0).u16(0);
  expect_refused(d::kLinkRaw, ipv4(tcp, {.protocol = 6}), Errc::not_udp);
  expect_refused(d::kLinkRaw, ipv6(6, tcp), Errc::not_udp);
  ByteBuilder icmp;
  icmp.u8(8).u8(0).u16(0).u32(0);
  expect_refused(d::kLinkRaw, ipv4(icmp, {.protocol = 1}), Errc::not_udp);
  expect_refused(d::kLinkRaw, ipv6(58, icmp), Errc::not_udp);
  expect_refused(d::kLinkRaw, ipv4(payload(8), {.protocol = 47}), Errc::not_udp);  // GRE
}

// ---- UDP ----

TEST(PacketWalk, UdpLengthPastTheIpPayloadIsABadUdpHeader) {
  // Everything was captured (the IP total length matches the frame) but UDP claims 10 more bytes.
  expect_refused(d::kLinkRaw, ipv4(udp(payload(40), 35467, 9500, 8 + 50)), Errc::bad_udp_header);
  expect_refused(d::kLinkRaw, ipv6(17, udp(payload(40), 35467, 9500, 8 + 50)), Errc::bad_udp_header);
}

TEST(PacketWalk, UdpLengthBelowEightIsABadUdpHeader) {
  for (int length : {0, 1, 7}) expect_refused(d::kLinkRaw, ipv4(udp(payload(40), 35467, 9500, length)), Errc::bad_udp_header);
}

TEST(PacketWalk, UdpLengthShorterThanTheIpPayloadBoundsThePayload) {
  const auto data = payload(40);
  const auto frame = ipv4(udp(data, 35467, 9500, 8 + 25));
  const auto r = walk_to_udp(d::kLinkRaw, frame.span());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload.size(), 25u);
}

TEST(PacketWalk, EmptyUdpPayloadIsAccepted) {
  expect_udp_ok(d::kLinkRaw, ipv4(udp(ByteBuilder{})), ByteBuilder{});
}

TEST(PacketWalk, EthernetPaddingIsIgnored) {
  // A 2-byte payload makes a 44-byte frame, which Ethernet pads to 60 bytes.
  const auto data = payload(2);
  auto frame = ethernet(0x0800, ipv4(udp(data)));
  ASSERT_EQ(frame.size(), 44u);
  for (int i = 0; i < 16; ++i) frame.u8(0xaa);
  expect_udp_ok(d::kLinkEthernet, frame, data);
  // The same for IPv6 (its payload length bounds the packet) with a padded trailer.
  auto frame6 = ethernet(0x86dd, ipv6(17, udp(data)));
  for (int i = 0; i < 16; ++i) frame6.u8(0xaa);
  expect_udp_ok(d::kLinkEthernet, frame6, data, true);
}

TEST(PacketWalk, SnapLengthCutIsATruncatedCapture) {
  const auto whole = ethernet(0x0800, ipv4(udp(payload(200))));
  for (std::size_t keep : {14u + 20u + 8u + 100u, 14u + 20u + 8u, 14u + 20u + 4u, 14u + 20u}) {
    ByteBuilder cut;
    cut.append(whole.span().first(keep));
    SCOPED_TRACE(keep);
    expect_refused(d::kLinkEthernet, cut, Errc::truncated_capture);
  }
  const auto whole6 = ethernet(0x86dd, ipv6(17, udp(payload(200))));
  for (std::size_t keep : {14u + 40u + 8u + 100u, 14u + 40u + 3u}) {
    ByteBuilder cut;
    cut.append(whole6.span().first(keep));
    SCOPED_TRACE(keep);
    expect_refused(d::kLinkEthernet, cut, Errc::truncated_capture);
  }
}

// ---- IPv6 extension headers and fragments ----

TEST(PacketWalk, Ipv6ExtensionHeadersAreWalked) {
  const auto data = payload(33);
  ByteBuilder ext;
  ext.u8(60).u8(0).raw({1, 4, 0, 0, 0, 0});                         // hop-by-hop, 8 bytes: PadN
  ext.u8(43).u8(1).raw({1, 12, 0, 0, 0, 0}).zeros(8);               // destination options, 16 bytes
  ext.u8(51).u8(0).u8(0).u8(0).u32(0).zeros(0);                     // routing type 0, 8 bytes
  ext.u8(17).u8(2).u16(0).u32(0x100).u32(7).zeros(4);               // AH: (2 + 2) x 4 = 16 bytes
  ext.append(udp(data).span());
  expect_udp_ok(d::kLinkRaw, ipv6(0, ext), data, true);
}

TEST(PacketWalk, Ipv6ExtensionHeaderPastThePayloadLengthIsNotWalkedIntoTheTrailer) {
  // A destination options header that claims more than the (fully captured) payload: the walk
  // stops there, finds no UDP header inside the payload, and does not call it a cut capture.
  ByteBuilder ext;
  ext.u8(17).u8(10).zeros(6);
  auto packet = ipv6(60, ext);
  packet.append(udp(payload(8)).span());  // bytes past the payload length (a trailer)
  packet.patch16(4, 8);
  expect_refused(d::kLinkRaw, packet, Errc::bad_udp_header);
}

TEST(PacketWalk, Ipv6FragmentHeaderIsAFragment) {
  const auto data = payload(40);
  ByteBuilder first;  // first fragment: offset 0, M set
  first.u8(17).u8(0).u16(0x0001).u32(0xabcd).append(udp(data).span());
  expect_refused(d::kLinkRaw, ipv6(44, first), Errc::ip_fragment);
  ByteBuilder later;  // a later fragment: offset 185 (x 8 bytes), M clear
  later.u8(17).u8(0).u16(185 << 3).u32(0xabcd).append(data.span());
  expect_refused(d::kLinkRaw, ipv6(44, later), Errc::ip_fragment);
  ByteBuilder behind_options;  // the fragment header after a hop-by-hop header
  behind_options.u8(44).u8(0).raw({1, 4, 0, 0, 0, 0});
  behind_options.u8(17).u8(0).u16(0x0001).u32(0xabcd).append(udp(data).span());
  expect_refused(d::kLinkRaw, ipv6(0, behind_options), Errc::ip_fragment);
}

TEST(PacketWalk, Ipv6PayloadLengthBelowTheCaptureBoundsThePacket) {
  // Trailing bytes after the IPv6 payload (padding) do not become part of the UDP payload.
  const auto data = payload(12);
  auto packet = ipv6(17, udp(data));
  for (int i = 0; i < 5; ++i) packet.u8(0xaa);
  expect_udp_ok(d::kLinkRaw, packet, data, true);
}

TEST(PacketWalk, Ipv6HeaderCutIsABadIpHeader) {
  const auto whole = ipv6(17, udp(payload(8)));
  ByteBuilder cut;
  cut.append(whole.span().first(39));
  expect_refused(d::kLinkRaw, cut, Errc::bad_ip_header);
}

// ---- what parse_frame reports besides UDP ----

TEST(PacketWalkParse, TcpPortsFlagsAndTos) {
  ByteBuilder tcp;
  tcp.u16(2968).u16(80).u32(1).u32(0).u8(0x50).u8(0x1b).u16(65535).u16(0).u16(0);
  const auto frame = ethernet(0x0800, ipv4(tcp, {.protocol = 6, .tos = 0x28}));
  const auto r = d::parse_frame(d::kLinkEthernet, frame.span());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->protocol, 6);
  EXPECT_EQ(r->sport, 2968);
  EXPECT_EQ(r->dport, 80);
  EXPECT_EQ(r->tcp_flags, 0x1b);
  EXPECT_EQ(r->tos, 0x28);
  EXPECT_TRUE(r->transport);
  EXPECT_FALSE(r->fragment);
  EXPECT_FALSE(r->cut);
  EXPECT_EQ(r->ip_length, 40u);
}

TEST(PacketWalkParse, IcmpTypeAndCode) {
  ByteBuilder icmp;
  icmp.u8(3).u8(13).u16(0).u32(0);
  const auto r = d::parse_frame(d::kLinkRaw, ipv4(icmp, {.protocol = 1}).span());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->icmp_type, 3);
  EXPECT_EQ(r->icmp_code, 13);
  const auto r6 = d::parse_frame(d::kLinkRaw, ipv6(58, icmp).span());
  ASSERT_TRUE(r6);
  EXPECT_EQ(r6->protocol, 58);
  EXPECT_EQ(r6->icmp_type, 3);
  EXPECT_EQ(r6->tos, 0xb8);
  EXPECT_EQ(r6->ip_length, 48u);
}

TEST(PacketWalkParse, CutInsideTheTransportHeaderStillGivesAddresses) {
  const auto whole = ipv4(udp(payload(8)));
  ByteBuilder cut;
  cut.append(whole.span().first(24));
  const auto r = d::parse_frame(d::kLinkRaw, cut.span());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->src.to_string(), "192.0.2.1");
  EXPECT_FALSE(r->transport);
  EXPECT_TRUE(r->cut);
}

}  // namespace
