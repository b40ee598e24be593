#include "decode/netflow_v5.hpp"

namespace overflowd::decode::netflow_v5 {

using core::ByteReader;
using core::Errc;
using core::fail;

core::Result<Header> parse_header(core::Bytes datagram) noexcept {
  ByteReader r(datagram);
  if (!r.has(kHeaderSize)) return fail(Errc::short_header, datagram.size(), 5);
  Header h;
  h.version = r.u16();
  h.count = r.u16();
  h.sys_uptime = r.u32();
  h.unix_secs = r.u32();
  h.unix_nsecs = r.u32();
  h.flow_sequence = r.u32();
  h.engine_type = r.u8();
  h.engine_id = r.u8();
  const std::uint16_t sampling = r.u16();
  h.sampling_mode = static_cast<std::uint8_t>(sampling >> 14);
  h.sampling_interval = sampling & 0x3fffu;
  if (h.version != 5) return fail(Errc::bad_version, 0, h.version);
  if (h.count == 0) return fail(Errc::count_zero, 2, 5);
  if (h.count > kMaxCount) return fail(Errc::count_too_large, 2, 5);
  const std::size_t expected = kHeaderSize + kRecordSize * h.count;
  if (datagram.size() < expected) return fail(Errc::truncated_records, datagram.size(), 5);
  if (datagram.size() > expected) return fail(Errc::trailing_bytes, expected, 5);
  return h;
}

Record parse_record(core::Bytes datagram, std::size_t i) noexcept {
  ByteReader r(datagram.subspan(kHeaderSize + i * kRecordSize, kRecordSize));
  Record rec;
  rec.srcaddr = r.u32();
  rec.dstaddr = r.u32();
  rec.nexthop = r.u32();
  rec.input = r.u16();
  rec.output = r.u16();
  rec.d_pkts = r.u32();
  rec.d_octets = r.u32();
  rec.first = r.u32();
  rec.last = r.u32();
  rec.srcport = r.u16();
  rec.dstport = r.u16();
  r.skip(1);  // pad1
  rec.tcp_flags = r.u8();
  rec.prot = r.u8();
  rec.tos = r.u8();
  rec.src_as = r.u16();
  rec.dst_as = r.u16();
  rec.src_mask = r.u8();
  rec.dst_mask = r.u8();
  return rec;  // pad2 (2 bytes) ends the record
}

core::Result<std::size_t> decode(const core::Datagram& datagram, std::vector<core::FlowRecord>& out) {
  const auto header = parse_header(datagram.bytes);
  if (!header) return std::unexpected(header.error());
  const Header& h = *header;
  const std::uint32_t interval = h.sampling_interval ? h.sampling_interval : 1u;
  const std::size_t base = out.size();
  out.resize(base + h.count);  // count was checked against the length above
  for (std::size_t i = 0; i < h.count; ++i) {
    const Record r = parse_record(datagram.bytes, i);
    core::FlowRecord& f = out[base + i];
    f = core::FlowRecord{};
    f.source_type = core::SourceType::netflow;
    f.source_version = 5;
    f.fields = core::kNetflowV5Fields;
    f.exporter = datagram.exporter;
    f.src = core::IpAddress::v4(r.srcaddr);
    f.dst = core::IpAddress::v4(r.dstaddr);
    f.nexthop = core::IpAddress::v4(r.nexthop);
    f.input = r.input;
    f.output = r.output;
    f.pcount = r.d_pkts;
    f.bcount = r.d_octets;
    f.stime_ms = uptime_to_unix_ms(h, r.first);
    f.etime_ms = uptime_to_unix_ms(h, r.last);
    f.sport = r.srcport;
    f.dport = r.dstport;
    f.tcp_flags = r.tcp_flags;
    f.protocol = r.prot;
    f.tos = r.tos;
    f.src_as = r.src_as;
    f.dst_as = r.dst_as;
    f.src_mask = r.src_mask;
    f.dst_mask = r.dst_mask;
    f.sampling_interval = interval;
  }
  return std::size_t{h.count};
}

}  // namespace overflowd::decode::netflow_v5
