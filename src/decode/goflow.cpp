#include "decode/goflow.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <string_view>

namespace overflowd::decode::goflow {

using core::Errc;

namespace {

// The values of one FlowMessage that the flow record takes, as read (proto3: absent is zero).
struct Raw {
  std::uint64_t type = 0;
  std::uint64_t sampling_rate = 0;
  std::uint64_t bytes = 0, packets = 0;
  std::uint64_t start_ns = 0, end_ns = 0;
  std::uint64_t proto = 0, src_port = 0, dst_port = 0;
  std::uint64_t in_if = 0, out_if = 0;
  std::uint64_t tos = 0, tcp_flags = 0, icmp_type = 0, icmp_code = 0;
  std::uint64_t src_as = 0, dst_as = 0, src_net = 0, dst_net = 0;
  core::IpAddress src, dst, next_hop, sampler;
};

// Field numbers of proto/flow.proto (goflow2's pb/flow.proto).
enum Field : std::uint32_t {
  kType = 1,
  kSamplingRate = 3,
  kSrcAddr = 6,
  kDstAddr = 7,
  kBytes = 9,
  kPackets = 10,
  kSamplerAddress = 11,
  kNextHop = 12,
  kSrcAs = 14,
  kDstAs = 15,
  kSrcNet = 16,
  kDstNet = 17,
  kInIf = 18,
  kOutIf = 19,
  kProto = 20,
  kSrcPort = 21,
  kDstPort = 22,
  kIpTos = 23,
  kTcpFlags = 26,
  kIcmpType = 31,
  kIcmpCode = 32,
  kTimeFlowStartNs = 111,
  kTimeFlowEndNs = 112,
};

std::unexpected<core::Error> refuse_at(Errc code, std::size_t offset) noexcept { return core::fail(code, offset, kVersionTag); }

// Checks the ranges and fills the record. `at` is the message's offset, for errors.
core::Result<void> finish(const Raw& r, const core::IpAddress& exporter, std::size_t at, core::FlowRecord& f) noexcept {
  if (r.proto > 255 || r.src_port > 65535 || r.dst_port > 65535 || r.tos > 255 || r.icmp_type > 255 ||
      r.icmp_code > 255 || r.src_net > 128 || r.dst_net > 128 || r.sampling_rate > UINT32_MAX || r.in_if > UINT32_MAX ||
      r.out_if > UINT32_MAX || r.src_as > UINT32_MAX || r.dst_as > UINT32_MAX)
    return refuse_at(Errc::bad_field_value, at);
  f = core::FlowRecord{};
  f.src = r.src;
  f.dst = r.dst;
  f.nexthop = r.next_hop;
  f.exporter = r.sampler.empty() ? exporter : r.sampler;
  f.pcount = r.packets;
  f.bcount = r.bytes;
  f.stime_ms = static_cast<std::int64_t>(r.start_ns / 1'000'000);
  f.etime_ms = static_cast<std::int64_t>(r.end_ns / 1'000'000);
  f.input = static_cast<std::uint32_t>(r.in_if);
  f.output = static_cast<std::uint32_t>(r.out_if);
  f.src_as = static_cast<std::uint32_t>(r.src_as);
  f.dst_as = static_cast<std::uint32_t>(r.dst_as);
  f.sampling_interval = r.sampling_rate == 0 ? 1u : static_cast<std::uint32_t>(r.sampling_rate);
  f.protocol = static_cast<std::uint8_t>(r.proto);
  f.tos = static_cast<std::uint8_t>(r.tos);
  f.src_mask = static_cast<std::uint8_t>(r.src_net);
  f.dst_mask = static_cast<std::uint8_t>(r.dst_net);
  std::uint32_t fields = core::kProtocol | core::kPackets | core::kBytes | core::kTos | core::kInterfaces |
                         core::kAsNumbers | core::kMasks;
  if (!f.src.empty()) fields |= core::kSrcAddr;
  if (!f.dst.empty()) fields |= core::kDstAddr;
  if (!f.nexthop.empty()) fields |= core::kNextHop;
  if (r.start_ns || r.end_ns) fields |= core::kTimes;
  switch (f.protocol) {
    case 6:  // TCP
      f.tcp_flags = static_cast<std::uint8_t>(r.tcp_flags & 0xff);
      fields |= core::kTcpFlags;
      [[fallthrough]];
    case 17:   // UDP
    case 132:  // SCTP
    case 136:  // UDP-Lite
      f.sport = static_cast<std::uint16_t>(r.src_port);
      f.dport = static_cast<std::uint16_t>(r.dst_port);
      fields |= core::kPorts;
      break;
    case 1:   // ICMP
    case 58:  // ICMPv6
      f.icmp_type = static_cast<std::uint8_t>(r.icmp_type);
      f.icmp_code = static_cast<std::uint8_t>(r.icmp_code);
      fields |= core::kIcmp;
      break;
    default:
      break;
  }
  f.fields = fields;
  switch (static_cast<std::uint32_t>(r.type)) {  // an enum is an int32: its low 32 bits, as libprotobuf reads it
    case 1:  // SFLOW_5
      f.source_type = core::SourceType::sflow;
      f.source_version = 5;
      break;
    case 2:  // NETFLOW_V5
      f.source_version = 5;
      break;
    case 3:  // NETFLOW_V9
      f.source_version = 9;
      break;
    case 4:  // IPFIX
      f.source_type = core::SourceType::ipfix;
      f.source_version = 10;
      break;
    default:
      break;
  }
  return {};
}

// ---- protobuf ----

class Reader {
public:
  explicit Reader(core::Bytes b) noexcept : p_(b.data()), begin_(b.data()), end_(b.data() + b.size()) {}
  [[nodiscard]] bool done() const noexcept { return p_ == end_; }
  [[nodiscard]] std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
  [[nodiscard]] std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  // A varint of at most 10 bytes whose value fits 64 bits; false when it runs off the end or is longer.
  [[nodiscard]] bool varint(std::uint64_t& v) noexcept {
    // Most tags and values are one or two bytes.
    if (end_ - p_ >= 2) {
      const auto b0 = static_cast<std::uint8_t>(p_[0]);
      if (!(b0 & 0x80u)) {
        v = b0;
        p_ += 1;
        return true;
      }
      const auto b1 = static_cast<std::uint8_t>(p_[1]);
      if (!(b1 & 0x80u)) {
        v = (b0 & 0x7fu) | (std::uint64_t{b1} << 7);
        p_ += 2;
        return true;
      }
    }
    std::uint64_t out = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
      if (p_ == end_) return false;
      const auto b = static_cast<std::uint8_t>(*p_++);
      if (shift == 63 && b > 1) return false;  // the 10th byte holds bit 63 only
      out |= std::uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80u)) {
        v = out;
        return true;
      }
    }
    return false;
  }
  [[nodiscard]] core::Bytes take(std::size_t n) noexcept {
    const core::Bytes b(p_, n);
    p_ += n;
    return b;
  }
  void skip(std::size_t n) noexcept { p_ += n; }

private:
  const std::byte* p_;
  const std::byte* begin_;
  const std::byte* end_;
};

bool is_bytes_field(std::uint32_t field) noexcept {
  return field == kSrcAddr || field == kDstAddr || field == kSamplerAddress || field == kNextHop;
}

// The repeated varint fields of proto/flow.proto, which proto3 writes packed (one length-delimited
// run of varints): mpls_ttl, mpls_label, bgp_communities, as_path, layer_stack.
bool is_packed_varints(std::uint32_t field) noexcept {
  return field == 80 || field == 81 || field == 101 || field == 102 || field == 103;
}

// `base` is the message's offset in the Kafka message, for errors.
core::Result<void> read_flow(core::Bytes message, std::size_t base, Raw& r) noexcept {
  Reader in(message);
  while (!in.done()) {
    const std::size_t at = base + in.offset();
    std::uint64_t tag = 0;
    // A tag is at most 5 bytes (libprotobuf refuses a longer one, even when its value is small).
    if (!in.varint(tag) || base + in.offset() - at > 5) return refuse_at(Errc::bad_varint, at);
    if (tag >> 3 == 0 || tag >> 3 > 536'870'911u) return refuse_at(Errc::bad_wire_type, at);
    const auto field = static_cast<std::uint32_t>(tag >> 3);
    const auto wire = static_cast<unsigned>(tag & 7);
    switch (wire) {
      case 0: {  // varint
        std::uint64_t v = 0;
        const std::size_t value_at = base + in.offset();
        if (!in.varint(v)) return refuse_at(Errc::bad_varint, value_at);
        if (is_bytes_field(field)) return refuse_at(Errc::bad_wire_type, at);
        switch (field) {
          case kType: r.type = v; break;
          case kSamplingRate: r.sampling_rate = v; break;
          case kBytes: r.bytes = v; break;
          case kPackets: r.packets = v; break;
          case kSrcAs: r.src_as = v; break;
          case kDstAs: r.dst_as = v; break;
          case kSrcNet: r.src_net = v; break;
          case kDstNet: r.dst_net = v; break;
          case kInIf: r.in_if = v; break;
          case kOutIf: r.out_if = v; break;
          case kProto: r.proto = v; break;
          case kSrcPort: r.src_port = v; break;
          case kDstPort: r.dst_port = v; break;
          case kIpTos: r.tos = v; break;
          case kTcpFlags: r.tcp_flags = v; break;
          case kIcmpType: r.icmp_type = v; break;
          case kIcmpCode: r.icmp_code = v; break;
          case kTimeFlowStartNs: r.start_ns = v; break;
          case kTimeFlowEndNs: r.end_ns = v; break;
          default: break;  // other fields (sequence numbers, MACs, VLANs, repeated unpacked) are not reported
        }
        break;
      }
      case 1:  // fixed64: no field of ours
        if (in.remaining() < 8) return refuse_at(Errc::field_overrun, at);
        in.skip(8);
        break;
      case 5:  // fixed32
        if (in.remaining() < 4) return refuse_at(Errc::field_overrun, at);
        in.skip(4);
        break;
      case 2: {  // length-delimited: addresses, packed repeated fields, unknown fields
        std::uint64_t n = 0;
        const std::size_t length_at = base + in.offset();
        // A length is at most 5 bytes too (libprotobuf reads it as a 32-bit size).
        if (!in.varint(n) || base + in.offset() - length_at > 5) return refuse_at(Errc::bad_varint, length_at);
        if (n > in.remaining()) return refuse_at(Errc::field_overrun, at);
        const std::size_t value_at = base + in.offset();
        const core::Bytes value = in.take(static_cast<std::size_t>(n));
        if (is_packed_varints(field)) {
          // Not reported, but libprotobuf refuses the message when one of them does not end: so do we.
          Reader packed(value);
          while (!packed.done()) {
            const std::size_t inner_at = value_at + packed.offset();
            std::uint64_t ignored = 0;
            if (!packed.varint(ignored)) return refuse_at(Errc::bad_varint, inner_at);
          }
          break;
        }
        if (!is_bytes_field(field)) break;
        if (n != 0 && n != 4 && n != 16) return refuse_at(Errc::bad_address_length, at);
        const core::IpAddress a = core::IpAddress::from_bytes(value);
        switch (field) {
          case kSrcAddr: r.src = a; break;
          case kDstAddr: r.dst = a; break;
          case kSamplerAddress: r.sampler = a; break;
          default: r.next_hop = a; break;
        }
        break;
      }
      default:  // 3, 4: groups (proto2 only), 6, 7: none
        return refuse_at(Errc::bad_wire_type, at);
    }
  }
  return {};
}

// ---- JSON ----

struct Named {
  std::string_view name;
  std::uint64_t value;
};

// IANA protocol numbers goflow2's JSON may render by name.
constexpr std::array kProtocolNames = {
    Named{"HOPOPT", 0},  Named{"ICMP", 1},    Named{"IGMP", 2},     Named{"TCP", 6},     Named{"UDP", 17},
    Named{"IPv6", 41},   Named{"GRE", 47},    Named{"ESP", 50},     Named{"AH", 51},     Named{"ICMPv6", 58},
    Named{"OSPF", 89},   Named{"PIM", 103},   Named{"SCTP", 132},   Named{"UDPLite", 136},
};
constexpr std::array kTypeNames = {Named{"FLOWUNKNOWN", 0}, Named{"SFLOW_5", 1}, Named{"NETFLOW_V5", 2},
                                   Named{"NETFLOW_V9", 3}, Named{"IPFIX", 4}};

bool whole_text(std::string_view s, std::uint64_t& v) noexcept {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

// A non-negative integer, or (names given) one of the names or a number as text. Absent: 0.
bool json_uint(const nlohmann::json& o, const char* key, std::uint64_t& v, std::span<const Named> names = {}) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (it->is_number_unsigned()) {
    v = it->get<std::uint64_t>();
    return true;
  }
  if (it->is_number_integer()) return it->get<std::int64_t>() >= 0 && (v = it->get<std::uint64_t>(), true);
  if (it->is_string() && !names.empty()) {
    const auto& s = it->get_ref<const std::string&>();
    for (const Named& n : names)
      if (s == n.name) {
        v = n.value;
        return true;
      }
    return whole_text(s, v);
  }
  return false;
}

// An address as text; "" or absent: none.
bool json_address(const nlohmann::json& o, const char* key, core::IpAddress& a) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) return true;
  const auto parsed = core::IpAddress::parse(s);
  if (!parsed) return false;
  a = *parsed;
  return true;
}

// A mask length, or a prefix "address/len" (goflow2's rendering of src_net/dst_net).
bool json_net(const nlohmann::json& o, const char* key, std::uint64_t& v) {
  const auto it = o.find(key);
  if (it != o.end() && it->is_string()) {
    const std::string_view s = it->get_ref<const std::string&>();
    const auto slash = s.rfind('/');
    return whole_text(slash == std::string_view::npos ? s : s.substr(slash + 1), v);
  }
  return json_uint(o, key, v);
}

}  // namespace

core::Result<void> decode_flow_message(core::Bytes message, const core::IpAddress& exporter, core::FlowRecord& out) noexcept {
  Raw r;
  if (auto read = read_flow(message, 0, r); !read) return read;
  return finish(r, exporter, 0, out);
}

core::Result<std::size_t> decode_pb(const core::Datagram& datagram, std::vector<core::FlowRecord>& out) {
  const std::size_t before = out.size();
  const auto refuse = [&](core::Error e) {
    out.resize(before);
    return std::unexpected(e);
  };
  Reader in(datagram.bytes);
  if (in.done()) return refuse_at(Errc::count_zero, 0);
  std::size_t n = 0;
  while (!in.done()) {
    const std::size_t at = in.offset();
    std::uint64_t length = 0;
    if (!in.varint(length)) return refuse(refuse_at(Errc::bad_varint, at).error());
    if (length > in.remaining()) return refuse(refuse_at(Errc::truncated_records, at).error());
    if (n == kMaxFlowsPerMessage) return refuse(refuse_at(Errc::record_limit, at).error());
    const std::size_t body = in.offset();
    const core::Bytes message = in.take(static_cast<std::size_t>(length));
    Raw r;
    if (auto read = read_flow(message, body, r); !read) return refuse(read.error());
    out.emplace_back();
    if (auto done = finish(r, datagram.exporter, body, out.back()); !done) return refuse(done.error());
    ++n;
  }
  return n;
}

core::Result<std::size_t> decode_json(const core::Datagram& datagram, std::vector<core::FlowRecord>& out) {
  if (datagram.bytes.empty()) return refuse_at(Errc::count_zero, 0);
  const auto* text = reinterpret_cast<const char*>(datagram.bytes.data());
  const nlohmann::json o = nlohmann::json::parse(text, text + datagram.bytes.size(), nullptr, false);
  if (o.is_discarded() || !o.is_object()) return refuse_at(Errc::bad_json, 0);
  Raw r;
  const bool ok = json_uint(o, "type", r.type, kTypeNames) && json_uint(o, "sampling_rate", r.sampling_rate) &&
                  json_uint(o, "bytes", r.bytes) && json_uint(o, "packets", r.packets) &&
                  json_uint(o, "time_flow_start_ns", r.start_ns) && json_uint(o, "time_flow_end_ns", r.end_ns) &&
                  json_uint(o, "proto", r.proto, kProtocolNames) && json_uint(o, "src_port", r.src_port) &&
                  json_uint(o, "dst_port", r.dst_port) && json_uint(o, "in_if", r.in_if) &&
                  json_uint(o, "out_if", r.out_if) && json_uint(o, "ip_tos", r.tos) &&
                  json_uint(o, "tcp_flags", r.tcp_flags) && json_uint(o, "icmp_type", r.icmp_type) &&
                  json_uint(o, "icmp_code", r.icmp_code) && json_uint(o, "src_as", r.src_as) &&
                  json_uint(o, "dst_as", r.dst_as) && json_net(o, "src_net", r.src_net) &&
                  json_net(o, "dst_net", r.dst_net);
  if (!ok) return refuse_at(Errc::bad_field_value, 0);
  if (!json_address(o, "src_addr", r.src) || !json_address(o, "dst_addr", r.dst) ||
      !json_address(o, "next_hop", r.next_hop) || !json_address(o, "sampler_address", r.sampler))
    return refuse_at(Errc::bad_field_value, 0);
  core::FlowRecord f;
  if (auto done = finish(r, datagram.exporter, 0, f); !done) return std::unexpected(done.error());
  out.push_back(f);
  return 1;
}

}  // namespace overflowd::decode::goflow
