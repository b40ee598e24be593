// NetFlow v5: a 24-byte header and 1 to 30 records of 48 bytes, nothing else.
// Layout: Cisco's "NetFlow Export Datagram Format" (v5), the de-facto reference.
#pragma once

#include <cstdint>
#include <vector>

#include "core/datagram.hpp"
#include "core/flow_record.hpp"
#include "core/result.hpp"

namespace overflowd::decode::netflow_v5 {

inline constexpr std::size_t kHeaderSize = 24;
inline constexpr std::size_t kRecordSize = 48;
inline constexpr std::uint16_t kMaxCount = 30;

struct Header {
  std::uint16_t version = 0;
  std::uint16_t count = 0;
  std::uint32_t sys_uptime = 0;  // ms since the exporter booted
  std::uint32_t unix_secs = 0;
  std::uint32_t unix_nsecs = 0;
  std::uint32_t flow_sequence = 0;
  std::uint8_t engine_type = 0;
  std::uint8_t engine_id = 0;
  std::uint8_t sampling_mode = 0;       // top 2 bits of the sampling field
  std::uint16_t sampling_interval = 0;  // low 14 bits; 0 when none is declared
};

struct Record {
  std::uint32_t srcaddr = 0, dstaddr = 0, nexthop = 0;
  std::uint16_t input = 0, output = 0;
  std::uint32_t d_pkts = 0, d_octets = 0;
  std::uint32_t first = 0, last = 0;  // sys_uptime at the first and last packet
  std::uint16_t srcport = 0, dstport = 0;
  std::uint8_t tcp_flags = 0, prot = 0, tos = 0;
  std::uint16_t src_as = 0, dst_as = 0;
  std::uint8_t src_mask = 0, dst_mask = 0;
};

// Checks the header and the exact size (24 + 48 x count == datagram length, 1 <= count <= 30).
[[nodiscard]] core::Result<Header> parse_header(core::Bytes datagram) noexcept;

// Reads record i of a datagram whose header parse_header accepted.
[[nodiscard]] Record parse_record(core::Bytes datagram, std::size_t i) noexcept;

// Unix milliseconds of an uptime stamp: unix time of the header - (sys_uptime - stamp).
// The difference is taken modulo 2^32 as a signed value, so uptime wrap-around is handled and a
// stamp slightly after sys_uptime lands slightly after the header time.
[[nodiscard]] constexpr std::int64_t uptime_to_unix_ms(const Header& h, std::uint32_t stamp) noexcept {
  const std::int64_t export_ms = std::int64_t{h.unix_secs} * 1000 + std::int64_t{h.unix_nsecs} / 1'000'000;
  const auto behind = static_cast<std::int32_t>(h.sys_uptime - stamp);
  return export_ms - behind;
}

// Appends one normalized FlowRecord per v5 record to `out`; returns how many.
[[nodiscard]] core::Result<std::size_t> decode(const core::Datagram& datagram, std::vector<core::FlowRecord>& out);

}  // namespace overflowd::decode::netflow_v5
