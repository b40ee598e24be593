// The field mapping shared by NetFlow v9 (RFC 3954) and IPFIX (RFC 7011, elements RFC 7012 / the
// IANA "IPFIX Information Elements" registry): v9 field types 1..127 are the IPFIX elements of the
// same number, so one table maps both into core::FlowRecord.
//
// A template field is compiled once, when its template arrives, into a FieldOp: what to do with the
// value (an Op) and how many bytes it takes. Decoding a record then runs the ops in order through a
// ByteReader; no lookup by element id happens per record. A field whose element is unknown,
// enterprise-specific (IPFIX E bit), variable-length, or of a length its element cannot have (an
// IPv4 address of 3 bytes) is compiled to a skip: its bytes are stepped over and nothing is set.
//
// Value rules:
// - Unsigned integers accept the reduced-size encoding (RFC 7011 6.2): any length 1..8, big-endian.
//   A value wider than its FlowRecord member saturates (a 64-bit interface index becomes 2^32-1),
//   except the TCP flags, of which only the low 8 bits are kept (tcpControlBits is 16 bits in IPFIX).
// - Addresses must be exactly 4 (IPv4) or 16 (IPv6) bytes. A template with IPv4 and IPv6 source or
//   destination fields (dual-stack) decides the family per record: see resolve_record(). An address
//   element repeated in a template (a tunnel's outer and inner headers) keeps its later value, unless
//   that is all zero and an earlier one is not.
// - A field of length 0 (legal in v9 and IPFIX templates) carries nothing and is skipped.
// - dateTimeSeconds (150/151) must be 4 bytes, dateTimeMilliseconds (152/153, 160) 8 bytes, and
//   dateTimeMicroseconds / Nanoseconds (154..157, NTP format, RFC 7011 6.1.9/6.1.10) 8 bytes.
// - Counts: a non-zero count wins over a zero one (IN_PKTS 0 beside OUT_PKTS 1, a delta count of 0
//   beside a non-zero total); among non-zero ones, delta counts (1/2) win over total counts (85/86),
//   which win over the post-counts (23/24, v9 OUT_BYTES/OUT_PKTS), which win over the sum of the
//   initiator and responder counts (231/232, 298/299: Cisco NSEL), whatever their template order.
//   A record with bytes but no packets, or with neither, is handled by resolve_record().
// - Next hop: a non-zero ipNextHop (15/62) wins over a non-zero bgpNextHop (18/63), which wins over
//   a zero one. ToS: ipClassOfService (5) wins over ipDiffServCodePoint (195, shifted left by 2).
// - ICMP type and code are kept only on ICMP (1) and ICMPv6 (58) flows (or, when the record has no
//   protocol, when they are not 0): see resolve_record().
// - Times: an absolute form (150..157) wins over a delta to the export time (158/159), which wins
//   over system uptime (21/22). Uptime stamps are converted with the v9 header's sysUpTime and
//   unix_secs; in IPFIX, with systemInitTimeMilliseconds (160) from the record or, failing that,
//   from the domain's options data. When only one end is known the other is derived from
//   flowDurationMilliseconds/Microseconds (161/162) or, failing that, set equal to it.
//   kTimes is set when at least one end is known.
// - Sampling (34, 50, 305..311, 48, 302): see sampling_interval_of() and TemplateCache.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "core/byte_reader.hpp"
#include "core/flow_record.hpp"

namespace overflowd::decode::ie {

// Information element ids (IANA registry; v9 names in comments where they differ).
enum Id : std::uint16_t {
  kOctetDeltaCount = 1,             // IN_BYTES
  kPacketDeltaCount = 2,            // IN_PKTS
  kProtocolIdentifier = 4,          // PROTOCOL
  kIpClassOfService = 5,            // TOS
  kTcpControlBits = 6,              // TCP_FLAGS
  kSourceTransportPort = 7,         // L4_SRC_PORT
  kSourceIPv4Address = 8,           // IPV4_SRC_ADDR
  kSourceIPv4PrefixLength = 9,      // SRC_MASK
  kIngressInterface = 10,           // INPUT_SNMP
  kDestinationTransportPort = 11,   // L4_DST_PORT
  kDestinationIPv4Address = 12,     // IPV4_DST_ADDR
  kDestinationIPv4PrefixLength = 13,// DST_MASK
  kEgressInterface = 14,            // OUTPUT_SNMP
  kIpNextHopIPv4Address = 15,       // IPV4_NEXT_HOP
  kBgpSourceAsNumber = 16,          // SRC_AS
  kBgpDestinationAsNumber = 17,     // DST_AS
  kBgpNextHopIPv4Address = 18,      // BGP_IPV4_NEXT_HOP
  kFlowEndSysUpTime = 21,           // LAST_SWITCHED
  kFlowStartSysUpTime = 22,         // FIRST_SWITCHED
  kPostOctetDeltaCount = 23,        // OUT_BYTES
  kPostPacketDeltaCount = 24,       // OUT_PKTS
  kSourceIPv6Address = 27,          // IPV6_SRC_ADDR
  kDestinationIPv6Address = 28,     // IPV6_DST_ADDR
  kSourceIPv6PrefixLength = 29,     // IPV6_SRC_MASK
  kDestinationIPv6PrefixLength = 30,// IPV6_DST_MASK
  kIcmpTypeCodeIPv4 = 32,           // ICMP_TYPE
  kSamplingInterval = 34,           // SAMPLING_INTERVAL
  kSamplerId = 48,                  // FLOW_SAMPLER_ID
  kSamplerRandomInterval = 50,      // FLOW_SAMPLER_RANDOM_INTERVAL
  kIpNextHopIPv6Address = 62,       // IPV6_NEXT_HOP
  kBgpNextHopIPv6Address = 63,      // BPG_IPV6_NEXT_HOP
  kOctetTotalCount = 85,
  kPacketTotalCount = 86,
  kIcmpTypeCodeIPv6 = 139,
  kFlowStartSeconds = 150,
  kFlowEndSeconds = 151,
  kFlowStartMilliseconds = 152,
  kFlowEndMilliseconds = 153,
  kFlowStartMicroseconds = 154,
  kFlowEndMicroseconds = 155,
  kFlowStartNanoseconds = 156,
  kFlowEndNanoseconds = 157,
  kFlowStartDeltaMicroseconds = 158,
  kFlowEndDeltaMicroseconds = 159,
  kSystemInitTimeMilliseconds = 160,
  kFlowDurationMilliseconds = 161,
  kFlowDurationMicroseconds = 162,
  kIcmpTypeIPv4 = 176,
  kIcmpCodeIPv4 = 177,
  kIcmpTypeIPv6 = 178,
  kIcmpCodeIPv6 = 179,
  kIpDiffServCodePoint = 195,
  kInitiatorOctets = 231,           // Cisco NSEL, as a v9 field type too
  kResponderOctets = 232,
  kInitiatorPackets = 298,
  kResponderPackets = 299,
  kSelectorId = 302,
  kSamplingPacketInterval = 305,
  kSamplingPacketSpace = 306,
  kSamplingTimeInterval = 307,      // microseconds selected (RFC 5477 8.2.3)
  kSamplingTimeSpace = 308,         // microseconds not selected
  kSamplingSize = 309,              // random n-out-of-N: n
  kSamplingPopulation = 310,        // random n-out-of-N: N
  kSamplingProbability = 311,       // uniform probabilistic: float64 (or float32, reduced size)
  kDataLinkFrameSize = 312,         // RFC 7133: the sampled frame's length
  kIpHeaderPacketSection = 313,     // RFC 5477: the sampled packet from its IP header
  kDataLinkFrameSection = 315,      // RFC 7133: the sampled frame from its data-link header
};

// A field length of 65535 in a template: the value carries its own length (RFC 7011 7).
inline constexpr std::uint16_t kVariableLength = 0xffff;

enum class Op : std::uint8_t {
  skip,  // fixed length: step over `length` bytes
  skip_variable,
  src_v4,
  dst_v4,
  src_v6,
  dst_v6,
  nexthop_v4,
  nexthop_v6,
  bgp_nexthop_v4,
  bgp_nexthop_v6,
  src_port,
  dst_port,
  protocol,
  tcp_flags,
  tos,
  dscp,
  input,
  output,
  src_as,
  dst_as,
  src_mask,
  dst_mask,
  octets_delta,
  packets_delta,
  octets_total,
  packets_total,
  octets_post,
  packets_post,
  octets_initiator,  // 231 / 298 and their responder twins: summed (one connection, both ways)
  octets_responder,
  packets_initiator,
  packets_responder,
  icmp_type_code,  // 32 / 139: type << 8 | code
  icmp_type,
  icmp_code,
  start_uptime,
  end_uptime,
  start_seconds,
  end_seconds,
  start_millis,
  end_millis,
  start_ntp,  // micro- and nanosecond forms: both NTP 64-bit timestamps
  end_ntp,
  start_delta_us,
  end_delta_us,
  system_init_millis,
  duration_millis,
  duration_micros,
  sampling_interval,
  sampler_random_interval,
  sampling_packet_interval,
  sampling_packet_space,
  sampling_time_interval,
  sampling_time_space,
  sampling_size,
  sampling_population,
  sampling_probability,
  sampler_id,
  selector_id,
  // Dual-stack templates (both IPv4 and IPv6 source/destination fields): TemplateCache::store()
  // turns their IPv6 address ops into these, which keep the value aside for resolve_record().
  src_v6_aside,
  dst_v6_aside,
  nexthop_v6_aside,
  bgp_nexthop_v6_aside,
  // Biflows (RFC 5103): the reverse direction's counters and TCP flags (see classify_enterprise).
  reverse_octets_delta,
  reverse_packets_delta,
  reverse_octets_total,
  reverse_packets_total,
  reverse_tcp_flags,
  // Records that carry the sampled packet itself (Juniper MX, some Cisco): walked with
  // decode::parse_ethernet / parse_ip in resolve_record(). Fixed or variable length.
  frame_size,
  link_frame_section,
  ip_packet_section,
};

// RFC 5103's reverse information elements: enterprise 29305, the forward element's id.
inline constexpr std::uint32_t kReversePen = 29305;
inline constexpr std::uint32_t kIxiaPen = 3054;  // Ixia IxFlow: its own reverse counters 176 / 177

struct FieldOp {
  std::uint16_t length = 0;  // bytes, or kVariableLength
  Op op = Op::skip;
  friend bool operator==(const FieldOp&, const FieldOp&) = default;
};

// What a template field (element id without the E bit, enterprise flag, length) compiles to.
[[nodiscard]] Op classify(std::uint16_t id, bool enterprise, std::uint16_t length) noexcept;
// An enterprise-specific field: the reverse counters and TCP flags of a biflow (PEN 29305: 1, 2, 85,
// 86, 6; Ixia's PEN 3054: 176, 177 reverse octet / packet deltas), else a skip.
[[nodiscard]] Op classify_enterprise(std::uint32_t pen, std::uint16_t id, std::uint16_t length) noexcept;
[[nodiscard]] constexpr bool is_reverse_op(Op op) noexcept {
  return op >= Op::reverse_octets_delta && op <= Op::reverse_tcp_flags;
}

// The FlowRecord::fields bit an op can set (0 for skips, times and sampling fields).
[[nodiscard]] std::uint32_t field_bit(Op op) noexcept;

// Whether an op feeds the record's times (resolve_times) or its sampling (sampling_interval_of).
[[nodiscard]] constexpr bool is_time_op(Op op) noexcept { return op >= Op::start_uptime && op <= Op::duration_micros; }
[[nodiscard]] constexpr bool is_sampling_op(Op op) noexcept {
  return op >= Op::sampling_interval && op <= Op::selector_id;
}

// Per-datagram context for turning uptime and delta stamps into Unix milliseconds.
struct TimeBase {
  std::int64_t export_ms = 0;          // header time (v9 unix_secs, IPFIX export time) in ms
  std::uint32_t sys_uptime_ms = 0;     // v9 header sysUpTime
  bool has_uptime = false;             // v9: uptime stamps are relative to the header
  std::optional<std::int64_t> system_init_ms;  // IPFIX: learned from options data
};

// Values of one record that are not FlowRecord members, or need the whole record to resolve.
struct RecordExtras {
  enum : std::uint32_t {
    kStartUptime = 1u << 0,
    kEndUptime = 1u << 1,
    kStartDelta = 1u << 2,
    kEndDelta = 1u << 3,
    kSystemInit = 1u << 4,
    kDurationMs = 1u << 5,
    kDurationUs = 1u << 6,
    kSamplingInterval = 1u << 7,
    kRandomInterval = 1u << 8,
    kPacketInterval = 1u << 9,
    kPacketSpace = 1u << 10,
    kSamplerId = 1u << 11,
    kSelectorId = 1u << 12,
    kTimeInterval = 1u << 13,
    kTimeSpace = 1u << 14,
    kSizeN = 1u << 15,
    kPopulation = 1u << 16,
    kProbability = 1u << 17,
    kInitOctets = 1u << 18,
    kRespOctets = 1u << 19,
    kInitPackets = 1u << 20,
    kRespPackets = 1u << 21,
    kV6Src = 1u << 22,  // dual-stack templates: the IPv6 addresses, kept aside (see resolve_record)
    kV6Dst = 1u << 23,
    kReverseOctets = 1u << 24,  // biflows
    kReversePackets = 1u << 25,
    kReverseFlags = 1u << 26,
    kFrameSize = 1u << 27,
    kLinkFrame = 1u << 28,  // `section` is a data-link frame (315)
    kIpPacket = 1u << 29,   // `section` is an IP packet (313)
  };
  std::uint32_t seen = 0;
  std::uint8_t start_rank = 0, end_rank = 0;  // absolute times: 0 none, 1 s, 2 ms, 3 us/ns
  std::uint8_t packets_rank = 0, bytes_rank = 0;
  std::uint8_t nexthop_rank = 0, tos_rank = 0;
  std::uint8_t v6_nexthop_rank = 0;  // dual-stack templates: the IPv6 next hop's rank
  std::int64_t start_ms = 0, end_ms = 0;
  std::uint32_t start_uptime = 0, end_uptime = 0;
  std::uint64_t start_delta_us = 0, end_delta_us = 0;
  std::int64_t system_init_ms = 0;
  std::uint64_t duration_ms = 0, duration_us = 0;
  std::uint64_t sampling_interval = 0, random_interval = 0, packet_interval = 0, packet_space = 0;
  std::uint64_t sampler_id = 0, selector_id = 0;
  std::uint8_t reverse_octets_rank = 0, reverse_packets_rank = 0;
  // Read only when their `seen` bit is set, so left uninitialized: a RecordExtras is made per
  // record, and zeroing these would cost the hot loop for fields most templates never have.
  std::uint8_t reverse_flags;
  std::uint64_t time_interval, time_space, sampling_size, population;
  double probability;
  std::uint64_t initiator_octets, responder_octets, initiator_packets, responder_packets;
  std::uint64_t reverse_octets, reverse_packets;  // biflows: the reverse direction's
  std::uint64_t frame_size;
  core::Bytes section;  // the sampled frame or packet, inside the datagram
  core::IpAddress v6_src, v6_dst, v6_nexthop;  // dual-stack templates only (v6_nexthop: its rank)

  [[nodiscard]] constexpr bool has(std::uint32_t bit) const noexcept { return (seen & bit) != 0; }
};

// Runs `op` on the next field of `r` (`length` bytes, or a variable-length value), writing into
// `f` and `x`. Returns false when the record runs past the reader.
bool apply(core::ByteReader& r, const FieldOp& op, core::FlowRecord& f, RecordExtras& x) noexcept;
// apply() for every op of a record in turn (one call per record: the hot loop).
bool apply_all(core::ByteReader& r, std::span<const FieldOp> ops, core::FlowRecord& f, RecordExtras& x) noexcept;

// Sets f's times from x and the time base (see the header comment); sets kTimes when known.
void resolve_times(const RecordExtras& x, const TimeBase& base, core::FlowRecord& f) noexcept;

// What needs the whole record once its fields are read (after apply_all):
// - Dual-stack templates (IPv4 and IPv6 source/destination fields; `dual` says which family's come
//   last in the template): the record's family is the one with more non-zero source/destination
//   addresses; when both have as many (both set) it is the family whose fields come LATER in the
//   template. Templates that carry two headers (tunnels: Cisco IOS-XR SRv6 / IP-in-IP, Huawei) list
//   the outer header first, and the inner one holds the traffic's own endpoints, the ones a report
//   is for. The same rule holds within one family (an element repeated: the later occurrence wins,
//   see apply()), except that an all-zero address never replaces a set one. The next hop is the
//   chosen family's when non-zero, else the other's (RFC 5549).
// - A sampled frame or packet (dataLinkFrameSection 315, ipHeaderPacketSection 313) is walked as the
//   sFlow decoder walks sampled headers (the outer IP header, as captured), and gives what the record
//   does not carry itself: addresses, protocol, ToS, ports, TCP flags, ICMP type/code. Such a record
//   describes one sampled packet: without a packet count it has 1, and without a byte count the
//   frame's size (dataLinkFrameSize 312), as sFlow. A frame that is not IP gives nothing.
// - ICMP type/code (kIcmp) are dropped unless the flow is ICMP or ICMPv6 (see the header comment).
// - Counts: with bytes but no (or 0) packets, pcount is estimated as ceil(bytes / kAssumedPacketSize),
//   at least 1, and kPackets is cleared (the report does not claim a count the exporter did not
//   give); with neither (a pure event: NAT, firewall, MAC-only records), pcount is 1 (an event
//   stands for at least the packet that caused it) and kPackets is cleared.
// Returns what was done to the counts, for the decoders' counters.
enum class CountFix : std::uint8_t { none, packets_estimated, no_counters };
enum class DualStack : std::uint8_t { none, v4_last, v6_last };
inline constexpr std::uint64_t kAssumedPacketSize = 512;
CountFix resolve_record(RecordExtras& x, DualStack dual, core::FlowRecord& f) noexcept;
// The count rule of resolve_record() alone (packets estimated from bytes, or 1 for an event).
CountFix resolve_counts(core::FlowRecord& f) noexcept;

// A biflow record's reverse direction as a flow of its own (RFC 5103): addresses, ports,
// interfaces, AS numbers and masks swapped; the reverse counters and TCP flags; no next hop or ICMP
// type (those of the forward direction). False when the record carries no reverse traffic (no
// reverse counter, or all of them 0).
bool reverse_flow(const RecordExtras& x, const core::FlowRecord& forward, core::FlowRecord& out) noexcept;

// The 1-in-N interval that a record's own sampling fields declare, or 0 when it declares none, the
// first of (RFC 5475 / 5477 selector parameters, v9 fields):
// - samplingPacketInterval n (305) with samplingPacketSpace m (306): round((n + m) / n), since n of
//   every n + m packets are selected; 305 alone: n;
// - samplingSize n (309) with samplingPopulation N (310), random n-out-of-N: round(N / n);
// - samplingTimeInterval t (307) with samplingTimeSpace s (308), time-based: round((t + s) / t);
// - samplingProbability p (311), uniform probabilistic: round(1 / p), for 0 < p <= 1;
// - samplingInterval (34); else samplerRandomInterval (50, v9 FLOW_SAMPLER_RANDOM_INTERVAL).
// Values of 0 (or a probability outside (0, 1]) count as absent; the result saturates at 2^32-1.
[[nodiscard]] std::uint32_t sampling_interval_of(const RecordExtras& x) noexcept;

// The NTP 64-bit timestamp (seconds since 1900 . 2^-32 fraction) as Unix milliseconds.
[[nodiscard]] constexpr std::int64_t ntp_to_unix_ms(std::uint64_t ntp) noexcept {
  constexpr std::int64_t kNtpToUnix = 2'208'988'800;  // 1970-01-01 - 1900-01-01 in seconds
  const auto seconds = static_cast<std::int64_t>(ntp >> 32) - kNtpToUnix;
  const auto millis = static_cast<std::int64_t>(((ntp & 0xffffffffu) * 1000u) >> 32);
  return seconds * 1000 + millis;
}

}  // namespace overflowd::decode::ie
