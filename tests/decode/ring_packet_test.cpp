// decode/ring_packet: IP packets as an AF_PACKET SOCK_DGRAM ring holds them, built and checksummed
// by scapy (2.5, `bytes(IP(...)/UDP(...)/Raw(...))`, the reference for the IPv4 header checksum and
// the UDP checksum over the pseudo-header, RFC 768 / RFC 8200 8.1), then altered byte by byte.
#include "decode/ring_packet.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using overflowd::core::Errc;
using overflowd::core::IpAddress;
using overflowd::decode::parse_ring_packet;

std::vector<std::byte> hex(std::string_view h) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<std::byte>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

constexpr std::string_view kPayload = "NetFlow-ish payload 0123456789";
// IP(src="192.0.2.1", dst="198.51.100.2", id=7)/UDP(sport=35467, dport=2055)/Raw(kPayload)
constexpr std::string_view kV4 =
    "4500003a0007000040118e75c0000201c63364028a8b0807002646a24e6574466c6f772d697368207061796c6f61642030313233343536373839";
// the same with a record-route option (IHL 6)
constexpr std::string_view kV4Options =
    "4600003e000700004011826ec0000201c6336402070304008a8b0807002646a24e6574466c6f772d697368207061796c6f61642030313233343536373839";
// an odd payload length ("abc"), sport 1
constexpr std::string_view kV4Odd = "4500001f0007000040118e90c0000201c633640200010807000b4736616263";
// IPv6(src="2001:db8::1", dst="2001:db8::2")/UDP(sport=35467, dport=2055)/Raw(kPayload)
constexpr std::string_view kV6 =
    "600000000026114020010db800000000000000000000000120010db80000000000000000000000028a8b08070026d7644e6574466c6f77"
    "2d697368207061796c6f61642030313233343536373839";
// the same after a hop-by-hop options header
constexpr std::string_view kV6HopByHop =
    "60000000002e004020010db800000000000000000000000120010db800000000000000000000000211000104000000008a8b08070026d764"
    "4e6574466c6f772d697368207061796c6f61642030313233343536373839";
// the same after a fragment header (M set, offset 0)
constexpr std::string_view kV6Fragment =
    "60000000002e2c4020010db800000000000000000000000120010db800000000000000000000000211000001000000058a8b08070026d764"
    "4e6574466c6f772d697368207061796c6f61642030313233343536373839";

std::string text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

Errc code_of(const std::vector<std::byte>& p, bool checked = false) {
  auto r = parse_ring_packet(p, checked);
  EXPECT_FALSE(r.has_value());
  return r ? Errc::count_ : r.error().code;
}

TEST(RingPacket, Ipv4) {
  for (auto h : {kV4, kV4Options}) {
    const auto p = hex(h);
    auto r = parse_ring_packet(p, false);
    ASSERT_TRUE(r.has_value()) << h;
    EXPECT_EQ(r->src, *IpAddress::parse("192.0.2.1"));
    EXPECT_EQ(r->dst, *IpAddress::parse("198.51.100.2"));
    EXPECT_EQ(r->sport, 35467);
    EXPECT_EQ(r->dport, 2055);
    EXPECT_EQ(text(r->payload), kPayload);
  }
  const auto odd = hex(kV4Odd);
  auto r = parse_ring_packet(odd, false);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(text(r->payload), "abc");
  EXPECT_EQ(r->sport, 1);
}

TEST(RingPacket, Ipv6AndItsExtensionHeaders) {
  for (auto h : {kV6, kV6HopByHop}) {
    const auto p = hex(h);
    auto r = parse_ring_packet(p, false);
    ASSERT_TRUE(r.has_value()) << h;
    EXPECT_EQ(r->src, *IpAddress::parse("2001:db8::1"));
    EXPECT_EQ(r->dst, *IpAddress::parse("2001:db8::2"));
    EXPECT_EQ(r->dport, 2055);
    EXPECT_EQ(text(r->payload), kPayload);
  }
  EXPECT_EQ(code_of(hex(kV6Fragment)), Errc::ip_fragment);
}

TEST(RingPacket, ChecksumsAreChecked) {
  auto p = hex(kV4);
  p.back() ^= std::byte{1};  // a payload bit: the UDP checksum no longer holds
  EXPECT_EQ(code_of(p), Errc::bad_udp_checksum);
  EXPECT_TRUE(parse_ring_packet(p, true).has_value()) << "the kernel said the checksum was checked";
  auto z = hex(kV4);
  z[26] = z[27] = std::byte{0};  // IPv4: no UDP checksum at all is allowed
  EXPECT_TRUE(parse_ring_packet(z, false).has_value());
  auto z6 = hex(kV6);
  z6[46] = z6[47] = std::byte{0};  // IPv6: it is not
  EXPECT_EQ(code_of(z6), Errc::bad_udp_checksum);
  auto h = hex(kV4);
  h[8] = std::byte{63};  // TTL: the header checksum no longer holds
  EXPECT_EQ(code_of(h), Errc::bad_ip_header);
}

TEST(RingPacket, RefusalsAreCoded) {
  EXPECT_EQ(code_of({}), Errc::truncated_capture);
  auto p = hex(kV4);
  EXPECT_EQ(code_of(std::vector<std::byte>(p.begin(), p.end() - 1)), Errc::truncated_capture);
  EXPECT_EQ(code_of(std::vector<std::byte>(p.begin(), p.begin() + 10)), Errc::truncated_capture);
  auto v = p;
  v[0] = std::byte{0x55};
  EXPECT_EQ(code_of(v), Errc::not_ip);
  auto ihl = p;
  ihl[0] = std::byte{0x44};
  EXPECT_EQ(code_of(ihl), Errc::bad_ip_header);
  // A fragment (MF), a TCP packet, a UDP length past the IP payload: each header checksum fixed
  // by hand (RFC 1071: the 16-bit one's complement sum changes by as much as the field did).
  auto frag = p;
  frag[6] = std::byte{0x20};  // MF: sum + 0x2000, so the checksum 0x8e75 becomes 0x6e75
  frag[10] = std::byte{0x6e};
  EXPECT_EQ(code_of(frag), Errc::ip_fragment);
  auto tcp = p;
  tcp[9] = std::byte{6};  // protocol 17 -> 6: checksum + 11
  tcp[11] = std::byte{0x80};
  EXPECT_EQ(code_of(tcp), Errc::not_udp);
  auto len = p;
  len[25] = std::byte{0x27};  // UDP length 0x26 -> 0x27, one past the IP payload
  EXPECT_EQ(code_of(len), Errc::bad_udp_header);
  auto short_udp = p;
  short_udp[25] = std::byte{7};
  EXPECT_EQ(code_of(short_udp, true), Errc::bad_udp_header);
  auto v6 = hex(kV6);
  v6[6] = std::byte{6};  // next header TCP
  EXPECT_EQ(code_of(v6), Errc::not_udp);
  auto jumbo = hex(kV6);
  jumbo[4] = jumbo[5] = std::byte{0};
  EXPECT_EQ(code_of(jumbo), Errc::bad_ip_header);
  auto cut6 = hex(kV6);
  cut6.pop_back();
  EXPECT_EQ(code_of(cut6), Errc::truncated_capture);
}

}  // namespace
