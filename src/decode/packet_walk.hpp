// From a captured frame down to IP and transport headers: Ethernet (with 802.1Q / 802.1ad tags),
// Linux cooked (SLL, SLL2), BSD loopback, and raw IP; IPv4 and IPv6 (extension headers walked).
// Used by the pcap source to find flow exports, and by the sFlow decoder for sampled headers.
#pragma once

#include <cstdint>

#include "core/byte_reader.hpp"
#include "core/ip_address.hpp"
#include "core/result.hpp"

namespace overflowd::decode {

// libpcap link types (https://www.tcpdump.org/linktypes.html) that the walk understands.
enum LinkType : std::uint32_t {
  kLinkNull = 0,        // BSD loopback, family in host byte order
  kLinkEthernet = 1,    // DLT_EN10MB
  kLinkRaw = 101,       // LINKTYPE_RAW: starts at the IP header
  kLinkLoop = 108,      // OpenBSD loopback, family in network byte order
  kLinkLinuxSll = 113,  // Linux cooked capture v1
  kLinkIpv4 = 228,
  kLinkIpv6 = 229,
  kLinkLinuxSll2 = 276,  // Linux cooked capture v2
};

[[nodiscard]] bool link_type_supported(std::uint32_t link_type) noexcept;

struct PacketInfo {
  core::IpAddress src;
  core::IpAddress dst;
  std::uint32_t ip_length = 0;  // IPv4 total length or IPv6 40 + payload length, as the header says
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  std::uint8_t protocol = 0;  // the transport protocol after IPv6 extension headers
  std::uint8_t tos = 0;       // IPv4 ToS / IPv6 traffic class
  std::uint8_t tcp_flags = 0;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  bool fragment = false;     // any fragment (MF set or offset > 0, or an IPv6 fragment header)
  bool transport = false;    // the transport header (ports, flags or ICMP type) was captured
  bool cut = false;          // fewer bytes were captured than the IP length says
  core::Bytes l4_payload;    // what was captured after the transport header
  std::uint16_t udp_length = 0;  // the UDP header's length field
};

// Parses as much as is captured; a frame cut inside the transport header still gives addresses.
// Fails only when the link or IP header itself is missing or invalid.
[[nodiscard]] core::Result<PacketInfo> parse_frame(std::uint32_t link_type, core::Bytes frame) noexcept;
[[nodiscard]] core::Result<PacketInfo> parse_ethernet(core::Bytes frame) noexcept;
[[nodiscard]] core::Result<PacketInfo> parse_ip(core::Bytes packet) noexcept;

struct UdpPayload {
  core::IpAddress src;
  core::IpAddress dst;
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  core::Bytes payload;
};

// The whole UDP payload of an unfragmented datagram, or why there is none: not_ip, not_udp,
// ip_fragment, truncated_capture, bad_ip_header, bad_udp_header, ...
[[nodiscard]] core::Result<UdpPayload> walk_to_udp(std::uint32_t link_type, core::Bytes frame) noexcept;

}  // namespace overflowd::decode
