#include "decode/packet_walk.hpp"

namespace overflowd::decode {

using core::ByteReader;
using core::Bytes;
using core::Errc;
using core::fail;
using core::IpAddress;
using core::Result;

namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88a8;
constexpr std::uint16_t kEtherQinQOld = 0x9100;
constexpr int kMaxVlanTags = 4;
constexpr int kMaxIpv6ExtensionHeaders = 8;

Result<PacketInfo> by_ethertype(std::uint16_t type, Bytes rest) noexcept {
  if (type == kEtherIpv4 || type == kEtherIpv6) return parse_ip(rest);
  return fail(Errc::not_ip, 0);
}

void parse_transport(PacketInfo& info, ByteReader r) noexcept {
  switch (info.protocol) {
    case 6: {  // TCP
      if (!r.has(14)) return;
      info.sport = r.u16();
      info.dport = r.u16();
      r.skip(9);  // seq, ack, data offset
      info.tcp_flags = r.u8();
      info.transport = true;
      return;
    }
    case 17:    // UDP
    case 132: {  // SCTP: ports only
      if (!r.has(8)) return;
      info.sport = r.u16();
      info.dport = r.u16();
      info.udp_length = r.u16();
      r.skip(2);
      info.transport = true;
      info.l4_payload = r.rest();
      return;
    }
    case 1:     // ICMP
    case 58: {  // ICMPv6
      if (!r.has(2)) return;
      info.icmp_type = r.u8();
      info.icmp_code = r.u8();
      info.transport = true;
      return;
    }
    default:
      return;
  }
}

Result<PacketInfo> parse_ipv4(ByteReader r) noexcept {
  PacketInfo info;
  const auto start = r.rest();
  if (!r.has(20)) return fail(Errc::bad_ip_header, 0);
  const std::uint8_t vihl = r.u8();
  const std::size_t ihl = std::size_t{vihl & 0x0fu} * 4;
  info.tos = r.u8();
  info.ip_length = r.u16();
  r.skip(2);  // identification
  const std::uint16_t frag = r.u16();
  r.skip(1);  // ttl
  info.protocol = r.u8();
  r.skip(2);  // checksum
  info.src = IpAddress::v4(r.u32());
  info.dst = IpAddress::v4(r.u32());
  if (ihl < 20 || info.ip_length < ihl) return fail(Errc::bad_ip_header, 0);
  info.fragment = (frag & 0x3fffu) != 0;  // MF or a fragment offset
  info.cut = start.size() < info.ip_length;
  if (start.size() < ihl) return info;    // options cut off: addresses only
  // The transport header is meaningful only in the first fragment; the captured bytes end at the
  // IP total length (Ethernet pads short frames).
  const std::size_t end = std::min<std::size_t>(start.size(), info.ip_length);
  if ((frag & 0x1fffu) == 0) parse_transport(info, ByteReader(start.subspan(ihl, end - ihl)));
  return info;
}

Result<PacketInfo> parse_ipv6(ByteReader r) noexcept {
  PacketInfo info;
  if (!r.has(40)) return fail(Errc::bad_ip_header, 0);
  const std::uint32_t vtcfl = r.u32();
  info.tos = static_cast<std::uint8_t>(vtcfl >> 20);
  const std::uint16_t payload_length = r.u16();
  info.ip_length = 40u + payload_length;
  std::uint8_t next = r.u8();
  r.skip(1);  // hop limit
  info.src = IpAddress::from_bytes(r.bytes(16));
  info.dst = IpAddress::from_bytes(r.bytes(16));
  info.cut = r.remaining() < payload_length;
  // Captured payload, cut at the payload length (jumbograms, payload length 0, are not walked).
  ByteReader p(r.rest().subspan(0, std::min<std::size_t>(r.remaining(), payload_length)));
  for (int i = 0; i < kMaxIpv6ExtensionHeaders; ++i) {
    switch (next) {
      case 0:     // hop-by-hop options: length in 8-byte units, not counting the first 8
      case 43:    // routing
      case 60:    // destination options
      case 51: {  // authentication header: length in 4-byte units, not counting the first 8
        if (!p.has(2)) {
          info.protocol = next;
          return info;
        }
        const std::uint8_t nh = p.u8();
        const std::size_t units = p.u8();
        const std::size_t len = next == 51 ? (units + 2) * 4 : (units + 1) * 8;
        p.skip(len - 2);
        if (!p.ok()) {
          info.protocol = nh;
          return info;
        }
        next = nh;
        continue;
      }
      case 44: {  // fragment
        if (!p.has(8)) {
          info.fragment = true;
          info.protocol = next;
          return info;
        }
        const std::uint8_t nh = p.u8();
        p.skip(1);
        const std::uint16_t off_m = p.u16();
        p.skip(4);
        // An atomic fragment (offset 0, M clear) is a whole packet (RFC 6946 section 4).
        if ((off_m & 0xfff9u) != 0) info.fragment = true;
        next = nh;
        if ((off_m & 0xfff8u) != 0) {  // not the first fragment: no transport header
          info.protocol = nh;
          return info;
        }
        continue;
      }
      default:
        info.protocol = next;
        parse_transport(info, p);
        return info;
    }
  }
  info.protocol = next;
  return info;
}

}  // namespace

bool link_type_supported(std::uint32_t link_type) noexcept {
  switch (link_type) {
    case kLinkNull:
    case kLinkEthernet:
    case kLinkRaw:
    case kLinkLoop:
    case kLinkLinuxSll:
    case kLinkIpv4:
    case kLinkIpv6:
    case kLinkLinuxSll2:
      return true;
    default:
      return false;
  }
}

Result<PacketInfo> parse_ip(Bytes packet) noexcept {
  if (packet.empty()) return fail(Errc::bad_ip_header, 0);
  const auto version = std::to_integer<unsigned>(packet[0]) >> 4;
  if (version == 4) return parse_ipv4(ByteReader(packet));
  if (version == 6) return parse_ipv6(ByteReader(packet));
  return fail(Errc::not_ip, 0);
}

Result<PacketInfo> parse_ethernet(Bytes frame) noexcept {
  ByteReader r(frame);
  r.skip(12);  // destination and source MAC
  std::uint16_t type = r.u16();
  for (int tags = 0; r.ok() && (type == kEtherVlan || type == kEtherQinQ || type == kEtherQinQOld); ++tags) {
    if (tags == kMaxVlanTags) return fail(Errc::not_ip, r.offset());
    r.skip(2);  // tag control
    type = r.u16();
  }
  if (!r.ok()) return fail(Errc::short_link_header, 0);
  return by_ethertype(type, r.rest());
}

Result<PacketInfo> parse_frame(std::uint32_t link_type, Bytes frame) noexcept {
  ByteReader r(frame);
  switch (link_type) {
    case kLinkEthernet:
      return parse_ethernet(frame);
    case kLinkRaw:
    case kLinkIpv4:
    case kLinkIpv6:
      return parse_ip(frame);
    case kLinkLinuxSll: {
      r.skip(14);  // packet type, ARPHRD, address length, address
      const std::uint16_t proto = r.u16();
      if (!r.ok()) return fail(Errc::short_link_header, 0);
      return by_ethertype(proto, r.rest());
    }
    case kLinkLinuxSll2: {
      const std::uint16_t proto = r.u16();
      r.skip(18);
      if (!r.ok()) return fail(Errc::short_link_header, 0);
      return by_ethertype(proto, r.rest());
    }
    case kLinkNull:
    case kLinkLoop: {
      const auto fam_bytes = r.bytes(4);
      if (!r.ok()) return fail(Errc::short_link_header, 0);
      // The family is in the writer's byte order (NULL) or network order (LOOP); the values that
      // matter (2, 10, 24, 28, 30) fit in one byte, so look at whichever end is non-zero.
      const auto lo = std::to_integer<std::uint32_t>(fam_bytes[0]);
      const auto hi = std::to_integer<std::uint32_t>(fam_bytes[3]);
      const std::uint32_t family = lo != 0 ? lo : hi;
      if (family == 2 || family == 10 || family == 24 || family == 28 || family == 30) return parse_ip(r.rest());
      return fail(Errc::not_ip, 0);
    }
    default:
      return fail(Errc::unsupported_link_type, 0);
  }
}

Result<UdpPayload> walk_to_udp(std::uint32_t link_type, Bytes frame) noexcept {
  auto info = parse_frame(link_type, frame);
  if (!info) return std::unexpected(info.error());
  if (info->fragment) return fail(Errc::ip_fragment, 0);
  if (info->protocol != 17) return fail(Errc::not_udp, 0);
  // No UDP header: either the capture was cut (snaplen) or the IP payload is too short to hold one.
  if (!info->transport) return fail(info->cut ? Errc::truncated_capture : Errc::bad_udp_header, 0);
  if (info->udp_length < 8) return fail(Errc::bad_udp_header, 0);
  const std::size_t want = info->udp_length - 8u;
  if (info->l4_payload.size() < want) {
    // Either the capture was cut (snaplen) or the UDP length lies about the IP payload.
    return fail(info->cut ? Errc::truncated_capture : Errc::bad_udp_header, 0);
  }
  return UdpPayload{info->src, info->dst, info->sport, info->dport, info->l4_payload.subspan(0, want)};
}

}  // namespace overflowd::decode
