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
  // Residual nanoseconds of unix_secs: 1e9 or more is no time at all, and a sign that these bytes
  // are not a v5 header (exports are recognized by content, not by port).
  if (h.unix_nsecs >= 1'000'000'000u) return fail(Errc::bad_nanoseconds, 12, 5);
  const std::size_t expected = kHeaderSize + kRecordSize * h.count;
  if (datagram.size() < expected) return fail(Errc::truncated_records, datagram.size(), 5);
  if (datagram.size() > expected) return fail(Errc::trailing_bytes, expected, 5);
  return h;
}

namespace {

// One 48-byte record; inlined into decode() so that the Record never goes through memory.
[[gnu::always_inline]] inline Record read_record(core::Bytes datagram, std::size_t i) noexcept {
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

// The normalized record, built whole (every member given) so nothing is zeroed and then rewritten.
[[gnu::always_inline]] inline core::FlowRecord to_flow(const Header& h, const Record& r, const core::IpAddress& exporter,
                                                       std::uint32_t interval) noexcept {
  return core::FlowRecord{
      .src = core::IpAddress::v4(r.srcaddr),
      .dst = core::IpAddress::v4(r.dstaddr),
      .nexthop = core::IpAddress::v4(r.nexthop),
      .exporter = exporter,
      .pcount = r.d_pkts,
      .bcount = r.d_octets,
      .stime_ms = uptime_to_unix_ms(h, r.first),
      .etime_ms = uptime_to_unix_ms(h, r.last),
      .input = r.input,
      .output = r.output,
      .src_as = r.src_as,
      .dst_as = r.dst_as,
      .sampling_interval = interval,
      .fields = core::kNetflowV5Fields,
      .sport = r.srcport,
      .dport = r.dstport,
      .source_version = 5,
      .protocol = r.prot,
      .tcp_flags = r.tcp_flags,
      .tos = r.tos,
      .src_mask = r.src_mask,
      .dst_mask = r.dst_mask,
      .icmp_type = 0,
      .icmp_code = 0,
      .source_type = core::SourceType::netflow,
  };
}

// Builds the record straight into the vector's storage: emplace_back constructs the FlowRecord from
// this conversion, whose result g++ constructs in place, where push_back(to_flow(...)) built a
// temporary on the stack from many narrow stores and then copied it with wide loads, which cannot
// be forwarded from those stores and stall (docs/benchmarks.md, issue 17, fourth pass).
struct InPlace {
  const Header& h;
  core::Bytes datagram;
  std::size_t i;
  const core::IpAddress& exporter;
  std::uint32_t interval;
  [[gnu::always_inline]] operator core::FlowRecord() const noexcept {
    return to_flow(h, read_record(datagram, i), exporter, interval);
  }
};

}  // namespace

Record parse_record(core::Bytes datagram, std::size_t i) noexcept { return read_record(datagram, i); }

// flatten: else the in-place construction stays an out-of-line call per record.
[[gnu::flatten]] core::Result<std::size_t> decode(const core::Datagram& datagram, std::vector<core::FlowRecord>& out) {
  const auto header = parse_header(datagram.bytes);
  if (!header) return std::unexpected(header.error());
  const Header& h = *header;
  const std::uint32_t interval = h.sampling_interval ? h.sampling_interval : 1u;
  for (std::size_t i = 0; i < h.count; ++i) out.emplace_back(InPlace{h, datagram.bytes, i, datagram.exporter, interval});
  return std::size_t{h.count};
}

}  // namespace overflowd::decode::netflow_v5
