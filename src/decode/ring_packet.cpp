#include "decode/ring_packet.hpp"

#include <array>

namespace overflowd::decode {

using core::Bytes;
using core::Errc;
using core::fail;

namespace {

std::uint16_t be16(Bytes b, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[at]) << 8) | std::to_integer<unsigned>(b[at + 1]));
}

std::uint16_t fold(std::uint64_t sum) noexcept {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

// The UDP header at packet[at..at+8) and its payload, after an IP header that said `ip_payload`
// bytes follow; `addresses` (source then destination) start the pseudo-header.
core::Result<RingDatagram> udp(Bytes packet, std::size_t at, std::size_t ip_payload, bool v6,
                               Bytes addresses, bool checksum_checked, RingDatagram d) noexcept {
  if (ip_payload < 8) return fail(Errc::bad_udp_header, at);
  const std::size_t length = be16(packet, at + 4);
  if (length < 8 || length > ip_payload) return fail(Errc::bad_udp_header, at + 4);
  const std::uint16_t sum = be16(packet, at + 6);
  if (!checksum_checked) {
    if (sum == 0) {
      if (v6) return fail(Errc::bad_udp_checksum, at + 6);  // RFC 8200 8.1: mandatory over IPv6
    } else {
      // Pseudo-header (addresses, protocol, UDP length) plus the UDP header and payload: 0xffff.
      const std::uint64_t total = ones_sum(packet.subspan(at, length), ones_sum(addresses) + 17 + length);
      if (fold(total) != 0xffff) return fail(Errc::bad_udp_checksum, at + 6);
    }
  }
  d.sport = be16(packet, at);
  d.dport = be16(packet, at + 2);
  d.payload = packet.subspan(at + 8, length - 8);
  return d;
}

}  // namespace

std::uint64_t ones_sum(Bytes bytes, std::uint64_t sum) noexcept {
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += be16(bytes, i);
  if (i < bytes.size()) sum += std::to_integer<unsigned>(bytes[i]) << 8;
  return sum;
}

core::Result<RingDatagram> parse_ring_packet(Bytes packet, bool checksum_checked) noexcept {
  if (packet.empty()) return fail(Errc::truncated_capture, 0);
  const unsigned version = std::to_integer<unsigned>(packet[0]) >> 4;
  RingDatagram d;
  if (version == 4) {
    if (packet.size() < 20) return fail(Errc::truncated_capture, 0);
    const std::size_t ihl = (std::to_integer<unsigned>(packet[0]) & 0x0f) * 4u;
    if (ihl < 20) return fail(Errc::bad_ip_header, 0);
    if (packet.size() < ihl) return fail(Errc::truncated_capture, 0);
    const std::size_t total = be16(packet, 2);
    if (total < ihl) return fail(Errc::bad_ip_header, 2);
    if (packet.size() < total) return fail(Errc::truncated_capture, 2);
    if (fold(ones_sum(packet.subspan(0, ihl))) != 0xffff) return fail(Errc::bad_ip_header, 10);
    if ((be16(packet, 6) & 0x3fff) != 0) return fail(Errc::ip_fragment, 6);  // MF or an offset
    if (std::to_integer<unsigned>(packet[9]) != 17) return fail(Errc::not_udp, 9);
    d.src = core::IpAddress::from_bytes(packet.subspan(12, 4));
    d.dst = core::IpAddress::from_bytes(packet.subspan(16, 4));
    return udp(packet, ihl, total - ihl, false, packet.subspan(12, 8), checksum_checked, d);
  }
  if (version != 6) return fail(Errc::not_ip, 0);
  if (packet.size() < 40) return fail(Errc::truncated_capture, 0);
  const std::size_t payload = be16(packet, 4);
  if (payload == 0) return fail(Errc::bad_ip_header, 4);  // a jumbogram: not on a flow collector's path
  if (packet.size() < 40 + payload) return fail(Errc::truncated_capture, 4);
  unsigned next = std::to_integer<unsigned>(packet[6]);
  std::size_t at = 40;
  // Hop-by-hop options, routing, destination options: walked (at most 8); a fragment: refused.
  for (int hops = 0; next != 17; ++hops) {
    if (next == 44) return fail(Errc::ip_fragment, at);
    if ((next != 0 && next != 43 && next != 60) || hops == 8) return fail(Errc::not_udp, at);
    if (at + 8 > 40 + payload) return fail(Errc::bad_ip_header, at);
    next = std::to_integer<unsigned>(packet[at]);
    at += (std::to_integer<unsigned>(packet[at + 1]) + 1u) * 8u;
    if (at > 40 + payload) return fail(Errc::bad_ip_header, at);
  }
  d.src = core::IpAddress::from_bytes(packet.subspan(8, 16));
  d.dst = core::IpAddress::from_bytes(packet.subspan(24, 16));
  const std::size_t udp_bytes = 40 + payload - at;
  // The pseudo-header's upper-layer length is taken from the UDP header, as Linux does.
  return udp(packet, at, udp_bytes, true, packet.subspan(8, 32), checksum_checked, d);
}

}  // namespace overflowd::decode
