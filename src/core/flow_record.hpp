// The one normalized flow record that every decoder fills (NetFlow v5, v9, IPFIX, sFlow v5) and
// every later stage reads. Times are absolute Unix milliseconds; fields a protocol does not carry
// are marked absent in `fields` and left out of the report.
#pragma once

#include <cstdint>

#include "core/ip_address.hpp"

namespace overflowd::core {

enum class SourceType : std::uint8_t { netflow, ipfix, sflow };

[[nodiscard]] constexpr const char* to_string(SourceType t) noexcept {
  switch (t) {
    case SourceType::netflow:
      return "Netflow";
    case SourceType::ipfix:
      return "IPFIX";
    case SourceType::sflow:
      return "sFlow";
  }
  return "unknown";
}

// Which optional fields a record carries (bit set = present).
enum Field : std::uint32_t {
  kSrcAddr = 1u << 0,
  kDstAddr = 1u << 1,
  kPorts = 1u << 2,
  kProtocol = 1u << 3,
  kPackets = 1u << 4,
  kBytes = 1u << 5,
  kTimes = 1u << 6,
  kTcpFlags = 1u << 7,
  kTos = 1u << 8,
  kNextHop = 1u << 9,
  kInterfaces = 1u << 10,
  kAsNumbers = 1u << 11,
  kMasks = 1u << 12,
  kIcmp = 1u << 13,
};

// What an interface member holds. sFlow's interface encoding (sFlow v5, flow_sample input/output)
// says whether the value is an ifIndex at all: a packet can be discarded (the value is a reason
// code), sent to several interfaces (the value is their number, 0 = unknown), or start or end in
// the device itself ("internal", ifIndex 0x3FFFFFFF). Only an ifindex is reported as input/output;
// the others as input_format/output_format (and input_value/output_value for discarded, multiple).
enum class InterfaceFormat : std::uint8_t { ifindex, discarded, multiple, internal };

[[nodiscard]] constexpr const char* to_string(InterfaceFormat f) noexcept {
  switch (f) {
    case InterfaceFormat::ifindex:
      return "ifindex";
    case InterfaceFormat::discarded:
      return "discarded";
    case InterfaceFormat::multiple:
      return "multiple";
    case InterfaceFormat::internal:
      return "internal";
  }
  return "unknown";
}

inline constexpr std::uint32_t kNetflowV5Fields = kSrcAddr | kDstAddr | kPorts | kProtocol | kPackets |
                                                  kBytes | kTimes | kTcpFlags | kTos | kNextHop |
                                                  kInterfaces | kAsNumbers | kMasks;

struct FlowRecord {
  IpAddress src;
  IpAddress dst;
  IpAddress nexthop;
  IpAddress exporter;  // the address the export came from (or the sFlow agent address)

  std::uint64_t pcount = 0;
  std::uint64_t bcount = 0;
  std::int64_t stime_ms = 0;  // flow start, Unix milliseconds
  std::int64_t etime_ms = 0;  // flow end, Unix milliseconds

  std::uint32_t input = 0;   // ingress interface index
  std::uint32_t output = 0;  // egress interface index
  std::uint32_t src_as = 0;
  std::uint32_t dst_as = 0;
  std::uint32_t sampling_interval = 1;  // 1 in N packets; 1 when the exporter declares none
  std::uint32_t fields = 0;             // Field bits

  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  std::uint16_t source_version = 0;  // 5, 9, 10, or sFlow 5
  std::uint8_t protocol = 0;
  std::uint8_t tcp_flags = 0;
  std::uint8_t tos = 0;
  std::uint8_t src_mask = 0;
  std::uint8_t dst_mask = 0;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  InterfaceFormat input_format = InterfaceFormat::ifindex;  // what `input` holds (sFlow only)
  InterfaceFormat output_format = InterfaceFormat::ifindex;
  SourceType source_type = SourceType::netflow;

  [[nodiscard]] constexpr bool has(Field f) const noexcept { return (fields & f) != 0; }
};

}  // namespace overflowd::core
