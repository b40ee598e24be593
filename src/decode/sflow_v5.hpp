// sFlow version 5 (sflow.org, "sFlow Version 5", InMon, July 2004): packet samples, not flows.
//
// A datagram is a header (version 5, agent address, sub-agent id, sequence, uptime, sample count)
// and samples tagged (enterprise << 12 | format, length). Flow samples (0:1) and expanded flow
// samples (0:3) each become one FlowRecord for the one packet they sampled: its addresses, ports,
// protocol, TCP flags, ToS and ICMP type come from the sampled header record (0:1, parsed with
// decode::parse_frame / parse_ip) or from a sampled IPv4/IPv6 record (0:3, 0:4); pcount = 1,
// bcount = the frame length, sampling_interval = the sample's sampling rate (one sample at 1:N
// stands for N packets). Extended router (0:1002) and gateway (0:1003) records add the next hop,
// the masks and the AS numbers; extended switch (0:1001) is checked and carries nothing we report.
// The sample's input and output interfaces keep their format (sFlow v5 "interface"): an ifIndex is
// reported as input/output; a discarded packet (format 1, value = reason code), several output
// interfaces (format 2, value = their number) or the device itself (ifIndex 0x3FFFFFFF, or
// 0xFFFFFFFF in an expanded sample) are reported as input_format/output_format instead (see
// core::InterfaceFormat). The undefined format 3 is read as an ifIndex.
// sFlow carries no flow times, so stime = etime = the time the datagram was received; the agent
// address is the record's exporter. Counter samples (0:2, 0:4) are counted and skipped; other
// formats and enterprises are skipped by their length.
//
// What is refused, and what is kept:
// - the datagram as a whole (an error result, nothing appended) when its header is short or bad,
//   its agent address type is not 0/1/2, or its sample count is larger than the datagram could
//   hold (sample_count_overrun) or than Limits::max_samples (sample_limit);
// - otherwise one sample at a time. A sample whose contents lie (a record count, record length,
//   header length or AS path that runs past what holds it, a record too short for its fields) or
//   exceed a cap is refused: its record is not appended, the refusal is counted in Stats under its
//   reason, and the walk goes on with the next sample, since the sample's own length still frames
//   it. A sample whose own length runs past the datagram ends the walk (the framing is lost). The
//   good samples of the datagram are kept either way: one bad sample says nothing about the others.
// - bytes left after the last sample are counted (trailing_bytes) and ignored.
// Nothing is allocated before a count or length has been checked against the bytes that remain.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/counters.hpp"
#include "core/datagram.hpp"
#include "core/flow_record.hpp"
#include "core/result.hpp"

namespace overflowd::decode::sflow_v5 {

inline constexpr std::uint32_t kVersion = 5;

// Sample formats (enterprise 0).
inline constexpr std::uint32_t kFlowSample = 1;
inline constexpr std::uint32_t kCounterSample = 2;
inline constexpr std::uint32_t kFlowSampleExpanded = 3;
inline constexpr std::uint32_t kCounterSampleExpanded = 4;

// Flow record formats (enterprise 0).
inline constexpr std::uint32_t kSampledHeader = 1;
inline constexpr std::uint32_t kSampledIpv4 = 3;
inline constexpr std::uint32_t kSampledIpv6 = 4;
inline constexpr std::uint32_t kExtendedSwitch = 1001;
inline constexpr std::uint32_t kExtendedRouter = 1002;
inline constexpr std::uint32_t kExtendedGateway = 1003;

// Header protocols of the sampled header record.
inline constexpr std::uint32_t kHeaderEthernet = 1;  // ETHERNET-ISO88023
inline constexpr std::uint32_t kHeaderIpv4 = 11;
inline constexpr std::uint32_t kHeaderIpv6 = 12;

// A data_format: enterprise in the top 20 bits, format in the low 12.
[[nodiscard]] constexpr std::uint32_t data_format(std::uint32_t enterprise, std::uint32_t format) noexcept {
  return (enterprise << 12) | (format & 0xfffu);
}

// Caps on what one datagram may make the decoder do. Anything above a cap is refused and counted.
struct Limits {
  std::uint32_t max_samples = 256;           // samples per datagram (a 1,500-byte datagram holds ~10)
  std::uint32_t max_records = 32;            // flow records per sample
  std::uint32_t max_header_bytes = 256;      // sampled header: SFLOW-MIB's sFlowFsMaximumHeaderSize range
  std::uint32_t max_as_path_segments = 32;   // extended gateway: destination AS path segments
  std::uint32_t max_as_path_length = 255;    // ASNs per segment (a BGP segment's length is one byte)
};

struct Header {
  core::IpAddress agent;  // empty when the agent address type is UNKNOWN (0)
  std::uint32_t sub_agent_id = 0;
  std::uint32_t sequence = 0;
  std::uint32_t uptime_ms = 0;
  std::uint32_t sample_count = 0;
  std::uint32_t size = 0;  // header bytes: 24 + the agent address (4 or 16)
};

// What one datagram held, beyond the records appended; filled by decode() (reset on entry).
struct Stats {
  std::uint32_t flow_samples = 0;      // flow samples accepted (0:1 and 0:3)
  std::uint32_t counter_samples = 0;   // counter samples skipped (0:2 and 0:4)
  std::uint32_t unknown_samples = 0;   // other sample formats or enterprises, skipped
  std::uint32_t no_packet_samples = 0; // accepted flow samples with no IP packet to report (ARP, ...)
  std::uint32_t unknown_records = 0;   // flow records of other formats/enterprises/header protocols
  std::uint32_t refused_samples = 0;   // samples refused (and trailing bytes), by reason in `refused`
  std::array<std::uint32_t, core::kErrcCount> refused{};
  core::Error first_refusal{};  // where the first refusal was found (valid when refused_samples > 0)

  [[nodiscard]] std::uint32_t refused_count(core::Errc e) const noexcept {
    return refused[static_cast<std::size_t>(e)];
  }
};

// Reads and checks the datagram header (not the samples).
[[nodiscard]] core::Result<Header> parse_header(core::Bytes datagram) noexcept;

// Appends one FlowRecord per flow sample with an IP packet to `out`; returns how many. An error
// means the whole datagram was refused; refused samples of an accepted datagram are in `stats`.
[[nodiscard]] core::Result<std::size_t> decode(const core::Datagram& datagram, std::vector<core::FlowRecord>& out,
                                               Stats& stats, const Limits& limits = {});

// Adds a datagram's Stats to the decode counters: skipped (counter samples, unknown samples,
// flow samples with no IP packet) and rejected (refused samples by reason) under sflow_v5.
void add_to(core::DecodeCounters& counters, const Stats& stats) noexcept;

}  // namespace overflowd::decode::sflow_v5
