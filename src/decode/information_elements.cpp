#include "decode/information_elements.hpp"

#include "decode/packet_walk.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

namespace overflowd::decode::ie {

using core::ByteReader;
using core::FlowRecord;

namespace {

constexpr bool is_uint(std::uint16_t length) noexcept { return length >= 1 && length <= 8; }

template <class T>
constexpr T saturate(std::uint64_t v) noexcept {
  return v > std::numeric_limits<T>::max() ? std::numeric_limits<T>::max() : static_cast<T>(v);
}

// An unsigned big-endian value of 1..8 bytes; the common widths take the direct reads.
inline __attribute__((always_inline)) std::uint64_t read_uint(ByteReader& r, std::uint16_t length) noexcept {
  switch (length) {
    case 1:
      return r.u8();
    case 2:
      return r.u16();
    case 4:
      return r.u32();
    case 8:
      return r.u64();
    default:
      return r.uint_n(length);
  }
}

inline core::IpAddress read_v4(ByteReader& r) noexcept { return core::IpAddress::v4(r.u32()); }
inline core::IpAddress read_v6(ByteReader& r) noexcept { return core::IpAddress::from_bytes(r.bytes(16)); }

// The length of a variable-length value (RFC 7011 7): one byte below 255, else 255 and two bytes.
inline std::size_t read_variable_length(ByteReader& r) noexcept {
  const std::uint8_t first = r.u8();
  if (first < 255) return first;
  return r.u16();
}

inline std::int64_t as_i64(std::uint64_t v) noexcept {
  return v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
             ? std::numeric_limits<std::int64_t>::max()
             : static_cast<std::int64_t>(v);
}

// Exporter-supplied times can be anything: sums saturate instead of overflowing.
inline std::int64_t add_sat(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  return r;
}
inline std::int64_t sub_sat(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r))
    return b < 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  return r;
}

// A count's rank: non-zero beats zero, then the kind (3 delta, 2 total, 1 post, 0 initiator +
// responder); 0 is "none seen".
constexpr std::uint8_t count_rank(std::uint8_t kind, std::uint64_t v) noexcept {
  return static_cast<std::uint8_t>(1 + kind + (v != 0 ? 4 : 0));
}

// Two 8-byte loads: an IPv4 address keeps its last 12 bytes zero.
inline bool is_zero(const core::IpAddress& a) noexcept {
  std::uint64_t w[2];
  std::memcpy(w, a.bytes().data(), sizeof w);
  return (w[0] | w[1]) == 0;
}

// A next hop's rank: non-zero ipNextHop 4, non-zero bgpNextHop 3, zero ipNextHop 2, zero bgp 1.
inline std::uint8_t nexthop_rank(bool ip, const core::IpAddress& a) noexcept {
  return static_cast<std::uint8_t>((is_zero(a) ? 1 : 3) + (ip ? 1 : 0));
}

}  // namespace

Op classify(std::uint16_t id, bool enterprise, std::uint16_t length) noexcept {
  const Op skip = length == kVariableLength ? Op::skip_variable : Op::skip;
  // Octet arrays of any length, variable-length ones included.
  if (!enterprise && length != 0) {
    if (id == kDataLinkFrameSection) return Op::link_frame_section;
    if (id == kIpHeaderPacketSection) return Op::ip_packet_section;
  }
  if (enterprise || length == kVariableLength || length == 0) return skip;
  const bool u = is_uint(length);
  switch (id) {
    case kOctetDeltaCount:
      return u ? Op::octets_delta : skip;
    case kPacketDeltaCount:
      return u ? Op::packets_delta : skip;
    case kOctetTotalCount:
      return u ? Op::octets_total : skip;
    case kPacketTotalCount:
      return u ? Op::packets_total : skip;
    case kPostOctetDeltaCount:
      return u ? Op::octets_post : skip;
    case kPostPacketDeltaCount:
      return u ? Op::packets_post : skip;
    case kInitiatorOctets:
      return u ? Op::octets_initiator : skip;
    case kResponderOctets:
      return u ? Op::octets_responder : skip;
    case kInitiatorPackets:
      return u ? Op::packets_initiator : skip;
    case kResponderPackets:
      return u ? Op::packets_responder : skip;
    case kProtocolIdentifier:
      return u ? Op::protocol : skip;
    case kIpClassOfService:
      return u ? Op::tos : skip;
    case kIpDiffServCodePoint:
      return u ? Op::dscp : skip;
    case kTcpControlBits:
      return u ? Op::tcp_flags : skip;
    case kSourceTransportPort:
      return u ? Op::src_port : skip;
    case kDestinationTransportPort:
      return u ? Op::dst_port : skip;
    case kSourceIPv4Address:
      return length == 4 ? Op::src_v4 : skip;
    case kDestinationIPv4Address:
      return length == 4 ? Op::dst_v4 : skip;
    case kSourceIPv6Address:
      return length == 16 ? Op::src_v6 : skip;
    case kDestinationIPv6Address:
      return length == 16 ? Op::dst_v6 : skip;
    case kIpNextHopIPv4Address:
      return length == 4 ? Op::nexthop_v4 : skip;
    case kIpNextHopIPv6Address:
      return length == 16 ? Op::nexthop_v6 : skip;
    case kBgpNextHopIPv4Address:
      return length == 4 ? Op::bgp_nexthop_v4 : skip;
    case kBgpNextHopIPv6Address:
      return length == 16 ? Op::bgp_nexthop_v6 : skip;
    case kSourceIPv4PrefixLength:
    case kSourceIPv6PrefixLength:
      return u ? Op::src_mask : skip;
    case kDestinationIPv4PrefixLength:
    case kDestinationIPv6PrefixLength:
      return u ? Op::dst_mask : skip;
    case kIngressInterface:
      return u ? Op::input : skip;
    case kEgressInterface:
      return u ? Op::output : skip;
    case kBgpSourceAsNumber:
      return u ? Op::src_as : skip;
    case kBgpDestinationAsNumber:
      return u ? Op::dst_as : skip;
    case kIcmpTypeCodeIPv4:
    case kIcmpTypeCodeIPv6:
      return u ? Op::icmp_type_code : skip;
    case kIcmpTypeIPv4:
    case kIcmpTypeIPv6:
      return u ? Op::icmp_type : skip;
    case kIcmpCodeIPv4:
    case kIcmpCodeIPv6:
      return u ? Op::icmp_code : skip;
    case kFlowStartSysUpTime:
      return u ? Op::start_uptime : skip;
    case kFlowEndSysUpTime:
      return u ? Op::end_uptime : skip;
    case kFlowStartSeconds:
      return length == 4 ? Op::start_seconds : skip;
    case kFlowEndSeconds:
      return length == 4 ? Op::end_seconds : skip;
    case kFlowStartMilliseconds:
      return length == 8 ? Op::start_millis : skip;
    case kFlowEndMilliseconds:
      return length == 8 ? Op::end_millis : skip;
    case kFlowStartMicroseconds:
    case kFlowStartNanoseconds:
      return length == 8 ? Op::start_ntp : skip;
    case kFlowEndMicroseconds:
    case kFlowEndNanoseconds:
      return length == 8 ? Op::end_ntp : skip;
    case kFlowStartDeltaMicroseconds:
      return u ? Op::start_delta_us : skip;
    case kFlowEndDeltaMicroseconds:
      return u ? Op::end_delta_us : skip;
    case kSystemInitTimeMilliseconds:
      return length == 8 ? Op::system_init_millis : skip;
    case kFlowDurationMilliseconds:
      return u ? Op::duration_millis : skip;
    case kFlowDurationMicroseconds:
      return u ? Op::duration_micros : skip;
    case kSamplingInterval:
      return u ? Op::sampling_interval : skip;
    case kSamplerRandomInterval:
      return u ? Op::sampler_random_interval : skip;
    case kSamplingPacketInterval:
      return u ? Op::sampling_packet_interval : skip;
    case kSamplingPacketSpace:
      return u ? Op::sampling_packet_space : skip;
    case kDataLinkFrameSize:
      return u ? Op::frame_size : skip;
    case kSamplingTimeInterval:
      return u ? Op::sampling_time_interval : skip;
    case kSamplingTimeSpace:
      return u ? Op::sampling_time_space : skip;
    case kSamplingSize:
      return u ? Op::sampling_size : skip;
    case kSamplingPopulation:
      return u ? Op::sampling_population : skip;
    case kSamplingProbability:
      return length == 4 || length == 8 ? Op::sampling_probability : skip;
    case kSamplerId:
      return u ? Op::sampler_id : skip;
    case kSelectorId:
      return u ? Op::selector_id : skip;
    default:
      return skip;
  }
}

Op classify_enterprise(std::uint32_t pen, std::uint16_t id, std::uint16_t length) noexcept {
  const Op skip = length == kVariableLength ? Op::skip_variable : Op::skip;
  if (!is_uint(length)) return skip;
  if (pen == kReversePen) {
    switch (id) {
      case kOctetDeltaCount:
        return Op::reverse_octets_delta;
      case kPacketDeltaCount:
        return Op::reverse_packets_delta;
      case kOctetTotalCount:
        return Op::reverse_octets_total;
      case kPacketTotalCount:
        return Op::reverse_packets_total;
      case kTcpControlBits:
        return Op::reverse_tcp_flags;
      default:
        return skip;
    }
  }
  if (pen == kIxiaPen) {
    if (id == 176) return Op::reverse_octets_delta;
    if (id == 177) return Op::reverse_packets_delta;
  }
  return skip;
}

std::uint32_t field_bit(Op op) noexcept {
  using core::Field;
  switch (op) {
    case Op::src_v4:
    case Op::src_v6:
    case Op::src_v6_aside:
      return Field::kSrcAddr;
    case Op::dst_v4:
    case Op::dst_v6:
    case Op::dst_v6_aside:
      return Field::kDstAddr;
    case Op::nexthop_v4:
    case Op::nexthop_v6:
    case Op::bgp_nexthop_v4:
    case Op::bgp_nexthop_v6:
    case Op::nexthop_v6_aside:
    case Op::bgp_nexthop_v6_aside:
      return Field::kNextHop;
    case Op::src_port:
    case Op::dst_port:
      return Field::kPorts;
    case Op::protocol:
      return Field::kProtocol;
    case Op::tcp_flags:
      return Field::kTcpFlags;
    case Op::tos:
    case Op::dscp:
      return Field::kTos;
    case Op::input:
    case Op::output:
      return Field::kInterfaces;
    case Op::src_as:
    case Op::dst_as:
      return Field::kAsNumbers;
    case Op::src_mask:
    case Op::dst_mask:
      return Field::kMasks;
    case Op::octets_delta:
    case Op::octets_total:
    case Op::octets_post:
    case Op::octets_initiator:
    case Op::octets_responder:
      return Field::kBytes;
    case Op::packets_delta:
    case Op::packets_total:
    case Op::packets_post:
    case Op::packets_initiator:
    case Op::packets_responder:
      return Field::kPackets;
    case Op::icmp_type_code:
    case Op::icmp_type:
    case Op::icmp_code:
      return Field::kIcmp;
    default:
      return 0;
  }
}

namespace {

inline __attribute__((always_inline)) void apply_one(ByteReader& r, const FieldOp& op, FlowRecord& f,
                                                     RecordExtras& x) noexcept {
  const std::uint16_t n = op.length;
  switch (op.op) {
    case Op::skip:
      r.skip(n);
      break;
    case Op::skip_variable:
      r.skip(read_variable_length(r));
      break;
    // The later occurrence of a repeated element wins (the inner header of a tunnel), but an all-zero
    // address never replaces a set one.
    case Op::src_v4: {
      const std::uint32_t v = r.u32();
      if (v != 0 || f.src.empty()) f.src = core::IpAddress::v4(v);
      break;
    }
    case Op::dst_v4: {
      const std::uint32_t v = r.u32();
      if (v != 0 || f.dst.empty()) f.dst = core::IpAddress::v4(v);
      break;
    }
    case Op::src_v6: {
      const auto a = read_v6(r);
      if (f.src.empty() || !is_zero(a)) f.src = a;
      break;
    }
    case Op::dst_v6: {
      const auto a = read_v6(r);
      if (f.dst.empty() || !is_zero(a)) f.dst = a;
      break;
    }
    case Op::nexthop_v4:
    case Op::nexthop_v6:
    case Op::bgp_nexthop_v4:
    case Op::bgp_nexthop_v6: {
      const bool v4 = op.op == Op::nexthop_v4 || op.op == Op::bgp_nexthop_v4;
      const auto a = v4 ? read_v4(r) : read_v6(r);
      const std::uint8_t rank = nexthop_rank(op.op == Op::nexthop_v4 || op.op == Op::nexthop_v6, a);
      if (rank > x.nexthop_rank) {
        f.nexthop = a;
        x.nexthop_rank = rank;
      }
      break;
    }
    case Op::src_v6_aside: {
      const auto a = read_v6(r);
      if (!x.has(RecordExtras::kV6Src) || !is_zero(a)) x.v6_src = a;
      x.seen |= RecordExtras::kV6Src;
      break;
    }
    case Op::dst_v6_aside: {
      const auto a = read_v6(r);
      if (!x.has(RecordExtras::kV6Dst) || !is_zero(a)) x.v6_dst = a;
      x.seen |= RecordExtras::kV6Dst;
      break;
    }
    case Op::nexthop_v6_aside:
    case Op::bgp_nexthop_v6_aside: {
      const auto a = read_v6(r);
      const std::uint8_t rank = nexthop_rank(op.op == Op::nexthop_v6_aside, a);
      if (rank > x.v6_nexthop_rank) {
        x.v6_nexthop = a;
        x.v6_nexthop_rank = rank;
      }
      break;
    }
    case Op::src_port:
      f.sport = saturate<std::uint16_t>(read_uint(r, n));
      break;
    case Op::dst_port:
      f.dport = saturate<std::uint16_t>(read_uint(r, n));
      break;
    case Op::protocol:
      f.protocol = saturate<std::uint8_t>(read_uint(r, n));
      break;
    case Op::tcp_flags:
      f.tcp_flags = static_cast<std::uint8_t>(read_uint(r, n) & 0xffu);
      break;
    case Op::tos:
      f.tos = saturate<std::uint8_t>(read_uint(r, n));
      x.tos_rank = 2;
      break;
    case Op::dscp: {
      const auto dscp = static_cast<std::uint8_t>(read_uint(r, n) & 0x3fu);
      if (x.tos_rank <= 1) {
        f.tos = static_cast<std::uint8_t>(dscp << 2);
        x.tos_rank = 1;
      }
      break;
    }
    case Op::input:
      f.input = saturate<std::uint32_t>(read_uint(r, n));
      break;
    case Op::output:
      f.output = saturate<std::uint32_t>(read_uint(r, n));
      break;
    case Op::src_as:
      f.src_as = saturate<std::uint32_t>(read_uint(r, n));
      break;
    case Op::dst_as:
      f.dst_as = saturate<std::uint32_t>(read_uint(r, n));
      break;
    case Op::src_mask:
      f.src_mask = saturate<std::uint8_t>(read_uint(r, n));
      break;
    case Op::dst_mask:
      f.dst_mask = saturate<std::uint8_t>(read_uint(r, n));
      break;
    case Op::octets_delta:
    case Op::octets_total:
    case Op::octets_post: {
      const std::uint64_t v = read_uint(r, n);
      const std::uint8_t rank = count_rank(op.op == Op::octets_delta ? 3 : op.op == Op::octets_total ? 2 : 1, v);
      if (rank >= x.bytes_rank) {
        f.bcount = v;
        x.bytes_rank = rank;
      }
      break;
    }
    case Op::packets_delta:
    case Op::packets_total:
    case Op::packets_post: {
      const std::uint64_t v = read_uint(r, n);
      const std::uint8_t rank = count_rank(op.op == Op::packets_delta ? 3 : op.op == Op::packets_total ? 2 : 1, v);
      if (rank >= x.packets_rank) {
        f.pcount = v;
        x.packets_rank = rank;
      }
      break;
    }
    case Op::octets_initiator:
      x.initiator_octets = read_uint(r, n);
      x.seen |= RecordExtras::kInitOctets;
      break;
    case Op::octets_responder:
      x.responder_octets = read_uint(r, n);
      x.seen |= RecordExtras::kRespOctets;
      break;
    case Op::packets_initiator:
      x.initiator_packets = read_uint(r, n);
      x.seen |= RecordExtras::kInitPackets;
      break;
    case Op::packets_responder:
      x.responder_packets = read_uint(r, n);
      x.seen |= RecordExtras::kRespPackets;
      break;
    case Op::icmp_type_code: {
      const std::uint64_t v = read_uint(r, n);
      f.icmp_type = static_cast<std::uint8_t>((v >> 8) & 0xffu);
      f.icmp_code = static_cast<std::uint8_t>(v & 0xffu);
      break;
    }
    case Op::icmp_type:
      f.icmp_type = saturate<std::uint8_t>(read_uint(r, n));
      break;
    case Op::icmp_code:
      f.icmp_code = saturate<std::uint8_t>(read_uint(r, n));
      break;
    case Op::start_uptime:
      x.start_uptime = static_cast<std::uint32_t>(read_uint(r, n));
      x.seen |= RecordExtras::kStartUptime;
      break;
    case Op::end_uptime:
      x.end_uptime = static_cast<std::uint32_t>(read_uint(r, n));
      x.seen |= RecordExtras::kEndUptime;
      break;
    case Op::start_seconds:
    case Op::end_seconds:
    case Op::start_millis:
    case Op::end_millis:
    case Op::start_ntp:
    case Op::end_ntp: {
      const std::uint64_t v = read_uint(r, n);
      std::int64_t ms = 0;
      std::uint8_t rank = 0;
      bool start = false;
      switch (op.op) {
        case Op::start_seconds:
          start = true;
          [[fallthrough]];
        case Op::end_seconds:
          ms = static_cast<std::int64_t>(v) * 1000;
          rank = 1;
          break;
        case Op::start_millis:
          start = true;
          [[fallthrough]];
        case Op::end_millis:
          ms = as_i64(v);
          rank = 2;
          break;
        case Op::start_ntp:
          start = true;
          [[fallthrough]];
        default:
          ms = ntp_to_unix_ms(v);
          rank = 3;
          break;
      }
      std::uint8_t& have = start ? x.start_rank : x.end_rank;
      if (rank >= have) {
        (start ? x.start_ms : x.end_ms) = ms;
        have = rank;
      }
      break;
    }
    case Op::start_delta_us:
      x.start_delta_us = read_uint(r, n);
      x.seen |= RecordExtras::kStartDelta;
      break;
    case Op::end_delta_us:
      x.end_delta_us = read_uint(r, n);
      x.seen |= RecordExtras::kEndDelta;
      break;
    case Op::system_init_millis:
      x.system_init_ms = as_i64(read_uint(r, n));
      x.seen |= RecordExtras::kSystemInit;
      break;
    case Op::duration_millis:
      x.duration_ms = read_uint(r, n);
      x.seen |= RecordExtras::kDurationMs;
      break;
    case Op::duration_micros:
      x.duration_us = read_uint(r, n);
      x.seen |= RecordExtras::kDurationUs;
      break;
    case Op::sampling_interval:
      x.sampling_interval = read_uint(r, n);
      x.seen |= RecordExtras::kSamplingInterval;
      break;
    case Op::sampler_random_interval:
      x.random_interval = read_uint(r, n);
      x.seen |= RecordExtras::kRandomInterval;
      break;
    case Op::sampling_packet_interval:
      x.packet_interval = read_uint(r, n);
      x.seen |= RecordExtras::kPacketInterval;
      break;
    case Op::sampling_packet_space:
      x.packet_space = read_uint(r, n);
      x.seen |= RecordExtras::kPacketSpace;
      break;
    case Op::reverse_octets_delta:
    case Op::reverse_octets_total: {
      const std::uint64_t v = read_uint(r, n);
      const std::uint8_t rank = count_rank(op.op == Op::reverse_octets_delta ? 3 : 2, v);
      if (rank >= x.reverse_octets_rank) {
        x.reverse_octets = v;
        x.reverse_octets_rank = rank;
      }
      x.seen |= RecordExtras::kReverseOctets;
      break;
    }
    case Op::reverse_packets_delta:
    case Op::reverse_packets_total: {
      const std::uint64_t v = read_uint(r, n);
      const std::uint8_t rank = count_rank(op.op == Op::reverse_packets_delta ? 3 : 2, v);
      if (rank >= x.reverse_packets_rank) {
        x.reverse_packets = v;
        x.reverse_packets_rank = rank;
      }
      x.seen |= RecordExtras::kReversePackets;
      break;
    }
    case Op::reverse_tcp_flags:
      x.reverse_flags = static_cast<std::uint8_t>(read_uint(r, n) & 0xffu);
      x.seen |= RecordExtras::kReverseFlags;
      break;
    case Op::frame_size:
      x.frame_size = read_uint(r, n);
      x.seen |= RecordExtras::kFrameSize;
      break;
    case Op::link_frame_section:
    case Op::ip_packet_section: {
      const std::size_t len = n == kVariableLength ? read_variable_length(r) : n;
      x.section = r.bytes(len);
      x.seen = (x.seen & ~(RecordExtras::kLinkFrame | RecordExtras::kIpPacket)) |
               (op.op == Op::link_frame_section ? RecordExtras::kLinkFrame : RecordExtras::kIpPacket);
      break;
    }
    case Op::sampling_time_interval:
      x.time_interval = read_uint(r, n);
      x.seen |= RecordExtras::kTimeInterval;
      break;
    case Op::sampling_time_space:
      x.time_space = read_uint(r, n);
      x.seen |= RecordExtras::kTimeSpace;
      break;
    case Op::sampling_size:
      x.sampling_size = read_uint(r, n);
      x.seen |= RecordExtras::kSizeN;
      break;
    case Op::sampling_population:
      x.population = read_uint(r, n);
      x.seen |= RecordExtras::kPopulation;
      break;
    case Op::sampling_probability: {
      // float64, or float32 in reduced-size encoding (RFC 7011 6.2).
      const std::uint64_t bits = read_uint(r, n);
      if (n == 8) {
        x.probability = std::bit_cast<double>(bits);
      } else {
        x.probability = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
      }
      x.seen |= RecordExtras::kProbability;
      break;
    }
    case Op::sampler_id:
      x.sampler_id = read_uint(r, n);
      x.seen |= RecordExtras::kSamplerId;
      break;
    case Op::selector_id:
      x.selector_id = read_uint(r, n);
      x.seen |= RecordExtras::kSelectorId;
      break;
  }
}

}  // namespace

bool apply(ByteReader& r, const FieldOp& op, FlowRecord& f, RecordExtras& x) noexcept {
  apply_one(r, op, f, x);
  return r.ok();
}

bool apply_all(ByteReader& r, std::span<const FieldOp> ops, FlowRecord& f, RecordExtras& x) noexcept {
  for (const FieldOp& op : ops) apply_one(r, op, f, x);
  return r.ok();
}

void resolve_times(const RecordExtras& x, const TimeBase& base, FlowRecord& f) noexcept {
  bool has_start = x.start_rank != 0;
  bool has_end = x.end_rank != 0;
  std::int64_t start = x.start_ms;
  std::int64_t end = x.end_ms;

  // Deltas to the export time (microseconds before it).
  if (!has_start && x.has(RecordExtras::kStartDelta)) {
    start = sub_sat(base.export_ms, as_i64(x.start_delta_us / 1000));
    has_start = true;
  }
  if (!has_end && x.has(RecordExtras::kEndDelta)) {
    end = sub_sat(base.export_ms, as_i64(x.end_delta_us / 1000));
    has_end = true;
  }

  // System uptime stamps: v9 against the header; IPFIX against systemInitTimeMilliseconds.
  const bool want_uptime = (!has_start && x.has(RecordExtras::kStartUptime)) ||
                           (!has_end && x.has(RecordExtras::kEndUptime));
  if (want_uptime) {
    // The record's own systemInitTimeMilliseconds first; then the v9 header; then the domain's.
    std::optional<std::int64_t> init;
    if (x.has(RecordExtras::kSystemInit)) {
      init = x.system_init_ms;
    } else if (!base.has_uptime) {
      init = base.system_init_ms;
    }
    auto convert = [&](std::uint32_t stamp) -> std::optional<std::int64_t> {
      if (init) return add_sat(*init, std::int64_t{stamp});
      if (base.has_uptime) return base.export_ms - static_cast<std::int32_t>(base.sys_uptime_ms - stamp);
      return std::nullopt;
    };
    if (!has_start && x.has(RecordExtras::kStartUptime)) {
      if (auto v = convert(x.start_uptime)) {
        start = *v;
        has_start = true;
      }
    }
    if (!has_end && x.has(RecordExtras::kEndUptime)) {
      if (auto v = convert(x.end_uptime)) {
        end = *v;
        has_end = true;
      }
    }
  }

  if (has_start != has_end) {
    std::optional<std::int64_t> duration;
    if (x.has(RecordExtras::kDurationMs)) {
      duration = as_i64(x.duration_ms);
    } else if (x.has(RecordExtras::kDurationUs)) {
      duration = as_i64(x.duration_us / 1000);
    }
    if (has_start) {
      end = duration ? add_sat(start, *duration) : start;
    } else {
      start = duration ? sub_sat(end, *duration) : end;
    }
    has_start = has_end = true;
  }
  if (has_start) {
    f.stime_ms = start;
    f.etime_ms = end;
    f.fields |= core::Field::kTimes;
  }
}

namespace {

// round(a / b) for b > 0, without overflow.
std::uint64_t round_div(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t q = a / b;
  const std::uint64_t rem = a % b;
  return q + (rem >= b - rem ? 1 : 0);
}

// round((n + m) / n) = 1 + round(m / n), for n > 0.
std::uint64_t one_plus_ratio(std::uint64_t n, std::uint64_t m) noexcept {
  const std::uint64_t q = round_div(m, n);
  return q == std::numeric_limits<std::uint64_t>::max() ? q : 1 + q;
}

}  // namespace

std::uint32_t sampling_interval_of(const RecordExtras& x) noexcept {
  std::uint64_t v = 0;
  if (x.has(RecordExtras::kPacketInterval) && x.packet_interval != 0) {
    v = x.has(RecordExtras::kPacketSpace) ? one_plus_ratio(x.packet_interval, x.packet_space) : x.packet_interval;
  } else if (x.has(RecordExtras::kSizeN) && x.has(RecordExtras::kPopulation) && x.sampling_size != 0 &&
             x.population != 0) {
    v = round_div(x.population, x.sampling_size);
  } else if (x.has(RecordExtras::kTimeInterval) && x.has(RecordExtras::kTimeSpace) && x.time_interval != 0) {
    v = one_plus_ratio(x.time_interval, x.time_space);
  } else if (x.has(RecordExtras::kProbability) && x.probability > 0 && x.probability <= 1) {
    const double inv = std::round(1.0 / x.probability);
    v = inv >= 4294967295.0 ? 4294967295u : static_cast<std::uint64_t>(inv);
  } else if (x.has(RecordExtras::kSamplingInterval) && x.sampling_interval != 0) {
    v = x.sampling_interval;
  } else if (x.has(RecordExtras::kRandomInterval) && x.random_interval != 0) {
    v = x.random_interval;
  }
  return saturate<std::uint32_t>(v);
}

namespace {

// What a sampled frame or packet gives that the record lacks (see resolve_record()).
void apply_section(const RecordExtras& x, FlowRecord& f) noexcept {
  using core::Field;
  // One sampled packet, whatever it holds; its size from dataLinkFrameSize when the record has no
  // byte count.
  if (!(f.fields & Field::kPackets)) {
    f.pcount = 1;
    f.fields |= Field::kPackets;
  }
  if (!(f.fields & Field::kBytes) && x.has(RecordExtras::kFrameSize)) {
    f.bcount = x.frame_size;
    f.fields |= Field::kBytes;
  }
  const auto info = x.has(RecordExtras::kLinkFrame) ? parse_ethernet(x.section) : parse_ip(x.section);
  if (!info) return;  // not IP (ARP, MPLS, ...), or a bad header: nothing to add
  const PacketInfo& p = *info;
  if (!(f.fields & Field::kSrcAddr)) f.src = p.src;
  if (!(f.fields & Field::kDstAddr)) f.dst = p.dst;
  if (!(f.fields & Field::kProtocol)) f.protocol = p.protocol;
  if (!(f.fields & Field::kTos)) f.tos = p.tos;
  f.fields |= Field::kSrcAddr | Field::kDstAddr | Field::kProtocol | Field::kTos;
  if (!p.transport) return;
  const std::uint8_t proto = f.protocol;
  if ((proto == 1 || proto == 58) && !(f.fields & Field::kIcmp)) {
    f.icmp_type = p.icmp_type;
    f.icmp_code = p.icmp_code;
    f.fields |= Field::kIcmp;
  } else if ((proto == 6 || proto == 17 || proto == 132) && !(f.fields & Field::kPorts)) {
    f.sport = p.sport;
    f.dport = p.dport;
    f.fields |= Field::kPorts;
  }
  if (proto == 6 && !(f.fields & Field::kTcpFlags)) {
    f.tcp_flags = p.tcp_flags;
    f.fields |= Field::kTcpFlags;
  }
}

}  // namespace

CountFix resolve_record(RecordExtras& x, DualStack dual, FlowRecord& f) noexcept {
  using core::Field;
  if (x.seen & (RecordExtras::kLinkFrame | RecordExtras::kIpPacket)) apply_section(x, f);
  if (dual != DualStack::none) {
    const auto nonzero = [](const core::IpAddress& a) { return !a.empty() && !is_zero(a); };
    const int v4 = (f.src.is_v4() && nonzero(f.src)) + (f.dst.is_v4() && nonzero(f.dst));
    const int v6 = (x.has(RecordExtras::kV6Src) && nonzero(x.v6_src)) + (x.has(RecordExtras::kV6Dst) && nonzero(x.v6_dst));
    const bool any_v4 = f.src.is_v4() || f.dst.is_v4();
    if (v6 > v4 || (v6 == v4 && v6 > 0 && dual == DualStack::v6_last) || (v6 == 0 && v4 == 0 && !any_v4)) {
      if (x.has(RecordExtras::kV6Src)) f.src = x.v6_src;
      if (x.has(RecordExtras::kV6Dst)) f.dst = x.v6_dst;
      if (x.v6_nexthop_rank >= 3 || (x.v6_nexthop_rank != 0 && x.nexthop_rank < 3)) f.nexthop = x.v6_nexthop;
    } else if (x.nexthop_rank < 3 && x.v6_nexthop_rank >= 3) {
      f.nexthop = x.v6_nexthop;  // an IPv4 flow with only an IPv6 next hop (RFC 5549)
    } else if (x.nexthop_rank == 0 && x.v6_nexthop_rank != 0) {
      f.nexthop = x.v6_nexthop;
    }
  }
  if ((f.fields & Field::kIcmp) && f.protocol != 1 && f.protocol != 58 &&
      ((f.fields & Field::kProtocol) || (f.icmp_type == 0 && f.icmp_code == 0)))
    f.fields &= ~std::uint32_t{Field::kIcmp};

  // Counts: the initiator + responder sum when nothing better was non-zero.
  const auto sum = [](std::uint64_t a, std::uint64_t b) {
    std::uint64_t s = 0;
    return __builtin_add_overflow(a, b, &s) ? std::numeric_limits<std::uint64_t>::max() : s;
  };
  if (x.seen & (RecordExtras::kInitOctets | RecordExtras::kRespOctets)) {
    const std::uint64_t v = sum(x.has(RecordExtras::kInitOctets) ? x.initiator_octets : 0,
                                x.has(RecordExtras::kRespOctets) ? x.responder_octets : 0);
    if (count_rank(0, v) > x.bytes_rank) {
      f.bcount = v;
      x.bytes_rank = count_rank(0, v);
    }
  }
  if (x.seen & (RecordExtras::kInitPackets | RecordExtras::kRespPackets)) {
    const std::uint64_t v = sum(x.has(RecordExtras::kInitPackets) ? x.initiator_packets : 0,
                                x.has(RecordExtras::kRespPackets) ? x.responder_packets : 0);
    if (count_rank(0, v) > x.packets_rank) {
      f.pcount = v;
      x.packets_rank = count_rank(0, v);
    }
  }
  return resolve_counts(f);
}

CountFix resolve_counts(FlowRecord& f) noexcept {
  using core::Field;
  if (f.pcount != 0 && (f.fields & Field::kPackets)) return CountFix::none;
  f.fields &= ~std::uint32_t{Field::kPackets};
  if (f.bcount != 0 && (f.fields & Field::kBytes)) {
    f.pcount = f.bcount / kAssumedPacketSize + (f.bcount % kAssumedPacketSize != 0 ? 1 : 0);
    return CountFix::packets_estimated;
  }
  f.pcount = 1;
  return CountFix::no_counters;
}

bool reverse_flow(const RecordExtras& x, const FlowRecord& forward, FlowRecord& out) noexcept {
  using core::Field;
  const bool octets = x.has(RecordExtras::kReverseOctets);
  const bool packets = x.has(RecordExtras::kReversePackets);
  if ((!octets || x.reverse_octets == 0) && (!packets || x.reverse_packets == 0)) return false;
  out = forward;
  std::swap(out.src, out.dst);
  std::swap(out.sport, out.dport);
  std::swap(out.input, out.output);
  std::swap(out.input_format, out.output_format);
  std::swap(out.src_as, out.dst_as);
  std::swap(out.src_mask, out.dst_mask);
  out.fields &= ~std::uint32_t{Field::kPackets | Field::kBytes | Field::kTcpFlags | Field::kIcmp | Field::kNextHop};
  out.bcount = octets ? x.reverse_octets : 0;
  out.pcount = packets ? x.reverse_packets : 0;
  if (octets) out.fields |= Field::kBytes;
  if (packets) out.fields |= Field::kPackets;
  if (x.has(RecordExtras::kReverseFlags)) {
    out.tcp_flags = x.reverse_flags;
    out.fields |= Field::kTcpFlags;
  }
  return true;
}

}  // namespace overflowd::decode::ie
