#include "decode/sflow_v5.hpp"

#include "decode/packet_walk.hpp"

namespace overflowd::decode::sflow_v5 {

using core::ByteReader;
using core::Bytes;
using core::Errc;
using core::IpAddress;

namespace {

constexpr std::uint32_t kInterfaceValueMask = 0x3fffffffu;  // compact interface: 2-bit format, 30-bit value
constexpr std::uint32_t kInternalInterface = 0x3fffffffu;   // ifIndex format: the device itself
constexpr std::size_t kFlowSampleFixed = 32;                // sequence .. record count
constexpr std::size_t kFlowSampleExpandedFixed = 44;
constexpr std::size_t kTagAndLength = 8;  // data_format + opaque length
constexpr std::uint32_t kMaxMaskLength = 128;

// Part of the datagram, read through its own ByteReader, that knows where it starts (for offsets).
struct Part {
  ByteReader r;
  std::size_t base = 0;

  [[nodiscard]] std::size_t at() const noexcept { return base + r.offset(); }
  // The next n bytes as their own Part; the caller has checked that they are there.
  [[nodiscard]] Part take(std::size_t n) noexcept {
    const std::size_t start = at();
    return Part{ByteReader(r.bytes(n)), start};
  }
};

// XDR pads opaque data to a multiple of 4 bytes.
[[nodiscard]] constexpr std::size_t padded(std::uint32_t length) noexcept {
  return (std::size_t{length} + 3) & ~std::size_t{3};
}

struct Walk {
  const Limits& limits;
  std::uint32_t sub_agent = 0;
  Stats& stats;

  [[nodiscard]] std::unexpected<core::Error> fail(Errc code, std::size_t offset) const noexcept {
    return core::fail(code, offset, kVersion, sub_agent);
  }
  void refuse(const core::Error& e) const noexcept {
    if (stats.refused_samples == 0) stats.first_refusal = e;
    ++stats.refused_samples;
    ++stats.refused[static_cast<std::size_t>(e.code)];
  }
};

// One flow sample being decoded: its record, and what its records have said so far.
struct Sample {
  core::FlowRecord flow;
  bool packet = false;  // a packet record (sampled header, sampled IPv4/IPv6) has described it
  bool router = false;
  bool gateway = false;
  IpAddress router_nexthop;
  IpAddress gateway_nexthop;
};

// An sFlow address: type (0 UNKNOWN, 1 IPv4, 2 IPv6) and 0, 4 or 16 bytes.
[[nodiscard]] core::Result<IpAddress> read_address(Part& p, const Walk& w, Errc short_code) noexcept {
  const std::size_t at = p.at();
  const std::uint32_t type = p.r.u32();
  if (!p.r.ok()) return w.fail(short_code, at);
  switch (type) {
    case 0:
      return IpAddress{};
    case 1: {
      const std::uint32_t v4 = p.r.u32();
      if (!p.r.ok()) return w.fail(short_code, at);
      return IpAddress::v4(v4);
    }
    case 2: {
      const Bytes v6 = p.r.bytes(16);
      if (!p.r.ok()) return w.fail(short_code, at);
      return IpAddress::from_bytes(v6);
    }
    default:
      return w.fail(Errc::bad_address_type, at);
  }
}

void set_transport(core::FlowRecord& f, std::uint8_t protocol, std::uint16_t sport, std::uint16_t dport,
                   std::uint8_t tcp_flags) noexcept {
  if (protocol == 6 || protocol == 17 || protocol == 132) {
    f.sport = sport;
    f.dport = dport;
    f.fields |= core::kPorts;
  }
  if (protocol == 6) {
    f.tcp_flags = tcp_flags;
    f.fields |= core::kTcpFlags;
  }
}

void apply_packet(const PacketInfo& p, core::FlowRecord& f) noexcept {
  f.src = p.src;
  f.dst = p.dst;
  f.protocol = p.protocol;
  f.tos = p.tos;
  f.fields |= core::kSrcAddr | core::kDstAddr | core::kProtocol | core::kTos;
  if (!p.transport) return;  // the sampled header ends before the transport header
  if (p.protocol == 1 || p.protocol == 58) {
    f.icmp_type = p.icmp_type;
    f.icmp_code = p.icmp_code;
    f.fields |= core::kIcmp;
    return;
  }
  set_transport(f, p.protocol, p.sport, p.dport, p.tcp_flags);
}

[[nodiscard]] unsigned ip_version(Bytes header) noexcept {
  return header.empty() ? 0u : std::to_integer<unsigned>(header[0]) >> 4;
}

// sampled_header (0:1): header_protocol, frame_length, stripped, header<>.
[[nodiscard]] core::Result<void> sampled_header(Part p, const Walk& w, Sample& s) noexcept {
  const std::size_t start = p.at();
  if (!p.r.has(16)) return w.fail(Errc::short_record, start);
  const std::uint32_t protocol = p.r.u32();
  const std::uint32_t frame_length = p.r.u32();
  p.r.skip(4);  // stripped: bytes removed before the header was taken (an Ethernet FCS, say)
  const std::size_t length_at = p.at();
  const std::uint32_t header_length = p.r.u32();
  if (header_length > p.r.remaining()) return w.fail(Errc::header_length_overrun, length_at);
  if (header_length > w.limits.max_header_bytes) return w.fail(Errc::header_limit, length_at);
  if (s.packet) return {};  // the first packet record of a sample describes its packet
  const std::size_t header_at = p.at();
  const Bytes header = p.r.bytes(header_length);

  if (protocol != kHeaderEthernet && protocol != kHeaderIpv4 && protocol != kHeaderIpv6) {
    ++w.stats.unknown_records;  // token ring, FDDI, PPP, MPLS, 802.11, ...: not walked
    return {};
  }
  if (protocol != kHeaderEthernet && ip_version(header) != (protocol == kHeaderIpv4 ? 4u : 6u))
    return w.fail(Errc::bad_packet_header, header_at);
  const auto info = protocol == kHeaderEthernet ? parse_ethernet(header) : parse_ip(header);
  if (!info) {
    if (info.error().code == Errc::not_ip) return {};  // ARP, LLC and the like: no IP packet to report
    return w.fail(Errc::bad_packet_header, header_at);
  }
  apply_packet(*info, s.flow);
  s.flow.bcount = frame_length;
  s.packet = true;
  return {};
}

// sampled_ipv4 (0:3) and sampled_ipv6 (0:4): length, protocol, src, dst, ports, tcp_flags, tos.
[[nodiscard]] core::Result<void> sampled_ip(Part p, const Walk& w, Sample& s, bool v6) noexcept {
  const std::size_t address_size = v6 ? 16 : 4;
  if (!p.r.has(8 + 2 * address_size + 16)) return w.fail(Errc::short_record, p.at());
  if (s.packet) return {};
  const std::uint32_t length = p.r.u32();
  const std::uint32_t protocol = p.r.u32();
  core::FlowRecord& f = s.flow;
  f.src = IpAddress::from_bytes(p.r.bytes(address_size));
  f.dst = IpAddress::from_bytes(p.r.bytes(address_size));
  const std::uint32_t sport = p.r.u32();
  const std::uint32_t dport = p.r.u32();
  const std::uint32_t tcp_flags = p.r.u32();
  const std::uint32_t tos = p.r.u32();  // IPv6: priority
  f.protocol = static_cast<std::uint8_t>(protocol & 0xffu);
  f.tos = static_cast<std::uint8_t>(tos & 0xffu);
  f.bcount = length;
  f.fields |= core::kSrcAddr | core::kDstAddr | core::kProtocol | core::kTos;
  set_transport(f, f.protocol, static_cast<std::uint16_t>(sport & 0xffffu), static_cast<std::uint16_t>(dport & 0xffffu),
                static_cast<std::uint8_t>(tcp_flags & 0xffu));
  s.packet = true;
  return {};
}

// extended_switch (0:1001): VLANs and priorities in and out. Checked; nothing we report.
[[nodiscard]] core::Result<void> extended_switch(Part p, const Walk& w) noexcept {
  if (!p.r.has(16)) return w.fail(Errc::short_record, p.at());
  return {};
}

// extended_router (0:1002): next hop, source and destination mask lengths.
[[nodiscard]] core::Result<void> extended_router(Part p, const Walk& w, Sample& s) noexcept {
  const std::size_t start = p.at();
  auto nexthop = read_address(p, w, Errc::short_record);
  if (!nexthop) return std::unexpected(nexthop.error());
  if (!p.r.has(8)) return w.fail(Errc::short_record, start);
  const std::size_t masks_at = p.at();
  const std::uint32_t src_mask = p.r.u32();
  const std::uint32_t dst_mask = p.r.u32();
  if (src_mask > kMaxMaskLength || dst_mask > kMaxMaskLength) return w.fail(Errc::bad_mask_length, masks_at);
  s.router = true;
  s.router_nexthop = *nexthop;
  s.flow.src_mask = static_cast<std::uint8_t>(src_mask);
  s.flow.dst_mask = static_cast<std::uint8_t>(dst_mask);
  s.flow.fields |= core::kMasks;
  return {};
}

// extended_gateway (0:1003): next hop, as, src_as, src_peer_as, dst_as_path<> (segments of
// type + ASNs<>), communities<>, localpref. dst_as is the last AS of the path (the origin), or the
// router's own AS when the path is empty (the destination is local).
[[nodiscard]] core::Result<void> extended_gateway(Part p, const Walk& w, Sample& s) noexcept {
  const std::size_t start = p.at();
  auto nexthop = read_address(p, w, Errc::short_record);
  if (!nexthop) return std::unexpected(nexthop.error());
  if (!p.r.has(16)) return w.fail(Errc::short_record, start);
  const std::uint32_t own_as = p.r.u32();
  const std::uint32_t src_as = p.r.u32();
  p.r.skip(4);  // src_peer_as
  const std::size_t segments_at = p.at();
  const std::uint32_t segments = p.r.u32();
  if (segments > p.r.remaining() / 8) return w.fail(Errc::list_overrun, segments_at);
  if (segments > w.limits.max_as_path_segments) return w.fail(Errc::as_path_limit, segments_at);
  std::uint32_t dst_as = own_as;
  for (std::uint32_t i = 0; i < segments; ++i) {
    const std::size_t segment_at = p.at();
    if (!p.r.has(8)) return w.fail(Errc::list_overrun, segment_at);
    p.r.skip(4);  // segment type: AS_SET (1) or AS_SEQUENCE (2)
    const std::uint32_t length = p.r.u32();
    if (length > p.r.remaining() / 4) return w.fail(Errc::list_overrun, segment_at + 4);
    if (length > w.limits.max_as_path_length) return w.fail(Errc::as_path_limit, segment_at + 4);
    if (length == 0) continue;
    p.r.skip((std::size_t{length} - 1) * 4);
    dst_as = p.r.u32();
  }
  const std::size_t communities_at = p.at();
  if (!p.r.has(4)) return w.fail(Errc::short_record, communities_at);
  const std::uint32_t communities = p.r.u32();
  if (communities > p.r.remaining() / 4) return w.fail(Errc::list_overrun, communities_at);
  p.r.skip(std::size_t{communities} * 4);
  if (!p.r.has(4)) return w.fail(Errc::short_record, p.at());  // localpref
  s.gateway = true;
  s.gateway_nexthop = *nexthop;
  s.flow.src_as = src_as;
  s.flow.dst_as = dst_as;
  s.flow.fields |= core::kAsNumbers;
  return {};
}

// An interface's format (0 ifIndex, 1 discarded, 2 multiple; 3 is undefined and taken as an ifIndex)
// and value. The ifIndex 0x3FFFFFFF (compact), or 0xFFFFFFFF (expanded), is the device itself.
void set_interface(std::uint32_t format, std::uint32_t value, core::InterfaceFormat& f, std::uint32_t& out) noexcept {
  using core::InterfaceFormat;
  out = value;
  if (format == 1) {
    f = InterfaceFormat::discarded;
  } else if (format == 2) {
    f = InterfaceFormat::multiple;
  } else if (value == kInternalInterface || value == 0xffffffffu) {
    f = InterfaceFormat::internal;
  } else {
    f = InterfaceFormat::ifindex;
  }
}

// flow_sample (0:1) and flow_sample_expanded (0:3), up to and including the flow records.
[[nodiscard]] core::Result<void> flow_sample(Part p, const Walk& w, bool expanded, Sample& s) noexcept {
  if (!p.r.has(expanded ? kFlowSampleExpandedFixed : kFlowSampleFixed)) return w.fail(Errc::bad_sample, p.at());
  p.r.skip(4);                 // sequence number
  p.r.skip(expanded ? 8 : 4);  // source id: class and index
  const std::uint32_t rate = p.r.u32();
  p.r.skip(8);  // sample pool, drops
  if (expanded) {
    const std::uint32_t input_format = p.r.u32();
    const std::uint32_t input = p.r.u32();
    const std::uint32_t output_format = p.r.u32();
    const std::uint32_t output = p.r.u32();
    set_interface(input_format, input, s.flow.input_format, s.flow.input);
    set_interface(output_format, output, s.flow.output_format, s.flow.output);
  } else {
    const std::uint32_t input = p.r.u32();
    const std::uint32_t output = p.r.u32();
    set_interface(input >> 30, input & kInterfaceValueMask, s.flow.input_format, s.flow.input);
    set_interface(output >> 30, output & kInterfaceValueMask, s.flow.output_format, s.flow.output);
  }
  s.flow.fields |= core::kInterfaces;
  s.flow.sampling_interval = rate ? rate : 1u;

  const std::size_t count_at = p.at();
  const std::uint32_t count = p.r.u32();
  if (count > p.r.remaining() / kTagAndLength) return w.fail(Errc::record_count_overrun, count_at);
  if (count > w.limits.max_records) return w.fail(Errc::record_limit, count_at);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t record_at = p.at();
    if (!p.r.has(kTagAndLength)) return w.fail(Errc::record_count_overrun, count_at);
    const std::uint32_t tag = p.r.u32();
    const std::uint32_t length = p.r.u32();
    const std::size_t span = padded(length);
    if (length > p.r.remaining() || span > p.r.remaining()) return w.fail(Errc::record_length_overrun, record_at + 4);
    Part record = p.take(length);
    p.r.skip(span - length);
    if ((tag >> 12) != 0) {  // another enterprise's record
      ++w.stats.unknown_records;
      continue;
    }
    core::Result<void> r;
    switch (tag & 0xfffu) {
      case kSampledHeader:
        r = sampled_header(record, w, s);
        break;
      case kSampledIpv4:
      case kSampledIpv6:
        r = sampled_ip(record, w, s, (tag & 0xfffu) == kSampledIpv6);
        break;
      case kExtendedSwitch:
        r = extended_switch(record, w);
        break;
      case kExtendedRouter:
        r = extended_router(record, w, s);
        break;
      case kExtendedGateway:
        r = extended_gateway(record, w, s);
        break;
      default:
        ++w.stats.unknown_records;
        break;
    }
    if (!r) return r;
  }
  // The IP next hop of extended_router; else the BGP next hop of extended_gateway.
  if (s.router && !s.router_nexthop.empty()) {
    s.flow.nexthop = s.router_nexthop;
    s.flow.fields |= core::kNextHop;
  } else if (s.gateway && !s.gateway_nexthop.empty()) {
    s.flow.nexthop = s.gateway_nexthop;
    s.flow.fields |= core::kNextHop;
  }
  return {};
}

}  // namespace

core::Result<Header> parse_header(Bytes datagram) noexcept {
  Part p{ByteReader(datagram), 0};
  Stats unused;
  const Limits limits;
  const Walk w{limits, 0, unused};
  const std::uint32_t version = p.r.u32();
  if (!p.r.ok()) return core::fail(Errc::short_header, datagram.size(), kVersion);
  if (version != kVersion) return core::fail(Errc::bad_version, 0, static_cast<std::uint16_t>(version & 0xffffu));
  Header h;
  auto agent = read_address(p, w, Errc::short_header);
  if (!agent) return std::unexpected(agent.error());
  h.agent = *agent;
  h.sub_agent_id = p.r.u32();
  h.sequence = p.r.u32();
  h.uptime_ms = p.r.u32();
  h.sample_count = p.r.u32();
  if (!p.r.ok()) return core::fail(Errc::short_header, datagram.size(), kVersion);
  h.size = static_cast<std::uint32_t>(p.at());
  return h;
}

core::Result<std::size_t> decode(const core::Datagram& datagram, std::vector<core::FlowRecord>& out, Stats& stats,
                                 const Limits& limits) {
  stats = Stats{};
  const auto header = parse_header(datagram.bytes);
  if (!header) return std::unexpected(header.error());
  const Header& h = *header;
  const Walk w{limits, h.sub_agent_id, stats};

  Part d{ByteReader(datagram.bytes), 0};
  d.r.skip(h.size);
  const std::size_t count_at = h.size - 4;
  if (h.sample_count > d.r.remaining() / kTagAndLength) return w.fail(Errc::sample_count_overrun, count_at);
  if (h.sample_count > limits.max_samples) return w.fail(Errc::sample_limit, count_at);

  core::FlowRecord base;
  base.source_type = core::SourceType::sflow;
  base.source_version = kVersion;
  base.exporter = h.agent.empty() ? datagram.exporter : h.agent;
  base.pcount = 1;
  base.stime_ms = base.etime_ms = datagram.received_ns / 1'000'000;
  base.fields = core::kPackets | core::kBytes | core::kTimes;

  const std::size_t before = out.size();
  bool framed = true;  // false once a sample's framing can no longer be trusted
  for (std::uint32_t i = 0; i < h.sample_count; ++i) {
    const std::size_t sample_at = d.at();
    if (!d.r.has(kTagAndLength)) {  // fewer samples than the count says
      w.refuse(w.fail(Errc::sample_count_overrun, count_at).error());
      framed = false;
      break;
    }
    const std::uint32_t tag = d.r.u32();
    const std::uint32_t length = d.r.u32();
    const std::size_t span = padded(length);
    if (length > d.r.remaining() || span > d.r.remaining()) {  // (the first test for 32-bit size_t)
      w.refuse(w.fail(Errc::sample_length_overrun, sample_at + 4).error());
      framed = false;
      break;
    }
    Part sample = d.take(length);
    d.r.skip(span - length);
    if ((tag >> 12) != 0) {
      ++stats.unknown_samples;
      continue;
    }
    switch (tag & 0xfffu) {
      case kFlowSample:
      case kFlowSampleExpanded: {
        Sample s;
        s.flow = base;
        const auto r = flow_sample(sample, w, (tag & 0xfffu) == kFlowSampleExpanded, s);
        if (!r) {
          w.refuse(r.error());
          break;
        }
        ++stats.flow_samples;
        if (!s.packet) {
          ++stats.no_packet_samples;
          break;
        }
        out.push_back(s.flow);
        break;
      }
      case kCounterSample:
      case kCounterSampleExpanded:
        ++stats.counter_samples;
        break;
      default:
        ++stats.unknown_samples;
        break;
    }
  }
  if (framed && !d.r.empty()) w.refuse(w.fail(Errc::trailing_bytes, d.at()).error());
  return out.size() - before;
}

void add_to(core::DecodeCounters& counters, const Stats& stats) noexcept {
  const auto p = static_cast<std::size_t>(core::Protocol::sflow_v5);
  counters.skipped[p] += std::uint64_t{stats.counter_samples} + stats.unknown_samples + stats.no_packet_samples;
  if (stats.refused_samples == 0) return;  // refuse() counts every reason in refused_samples too
  for (std::size_t e = 0; e < core::kErrcCount; ++e) counters.rejected[p][e] += stats.refused[e];
}

}  // namespace overflowd::decode::sflow_v5
