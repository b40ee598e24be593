// One packet of an AF_PACKET ring (SOCK_DGRAM: it starts at the IP header) down to its UDP payload,
// for the live af_packet engine (source/af_packet_source). The kernel's IP and UDP receive path
// has not looked at these bytes, so this parser does its checks: IPv4 header length and checksum,
// total length against what was captured, fragments (refused: the ring sees only reassembled IPv4
// datagrams when the fanout defragments, so what is left is IPv6 fragments), IPv6 extension headers
// (hop-by-hop, routing, destination options are walked), the UDP length, and the UDP checksum
// unless the kernel says it is already checked or not yet computed (a datagram sent on this host).
#pragma once

#include <cstdint>

#include "core/byte_reader.hpp"
#include "core/ip_address.hpp"
#include "core/result.hpp"

namespace overflowd::decode {

struct RingDatagram {
  core::IpAddress src;
  core::IpAddress dst;
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  core::Bytes payload;  // the whole UDP payload
};

// `checksum_checked`: the ring's status said TP_STATUS_CSUM_VALID or TP_STATUS_CSUMNOTREADY.
// Errors: not_ip, bad_ip_header, truncated_capture, ip_fragment, not_udp, bad_udp_header,
// bad_udp_checksum. The error's offset is where in the packet the problem was found.
[[nodiscard]] core::Result<RingDatagram> parse_ring_packet(core::Bytes packet, bool checksum_checked) noexcept;

// The Internet checksum (RFC 1071) of `bytes` added to `sum` (not folded, not inverted).
[[nodiscard]] std::uint64_t ones_sum(core::Bytes bytes, std::uint64_t sum = 0) noexcept;

}  // namespace overflowd::decode
