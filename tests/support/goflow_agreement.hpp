// The goflow2 protobuf reader (src/decode/goflow.cpp, hand-written) held to libprotobuf: for one
// FlowMessage's bytes, libprotobuf's generated FlowMessage::ParseFromArray (proto/flow.proto) and
// goflow::decode_flow_message must agree. Used by the differential fuzz target
// (fuzz/goflow_diff_fuzz.cpp) and by tests/decode/goflow_agreement_test.cpp.
//
// - libprotobuf refuses: the reader refuses too.
// - Both accept: every field of the flow record equals the mapping (docs/decoders.md, "goflow2")
//   applied to the values libprotobuf parsed.
// - libprotobuf accepts, the reader refuses: only where the reader is deliberately stricter, each
//   case checked here against the bytes or against libprotobuf's own raw view of the fields
//   (UnknownFieldSet, which keeps every varint whole):
//     bad_address_length  src_addr/dst_addr/sampler_address/next_hop of a length other than 0, 4, 16
//     bad_wire_type       an address field sent as a varint; a group (wire type 3/4, proto2 only);
//                         a tag whose field number is over 2^29-1 (libprotobuf drops the high bits)
//     bad_varint          a 10-byte varint whose last byte holds more than bit 63 (libprotobuf
//                         drops the excess; Go's protowire, which goflow2 writes with, refuses it)
//     bad_field_value     a value the record cannot hold, as sent on the wire before libprotobuf
//                         truncates a uint32 field: proto, ip_tos, icmp_type/code over 255, ports
//                         over 65535, masks over 128, sampling_rate/interfaces/AS numbers over 2^32-1
#pragma once

#include <google/protobuf/unknown_field_set.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/flow_record.hpp"
#include "core/ip_address.hpp"
#include "decode/goflow.hpp"
#include "proto/flow.pb.h"

namespace overflowd::test {

namespace goflow_agreement_detail {

using core::Errc;
using core::FlowRecord;
using core::IpAddress;

inline IpAddress address_of(const std::string& s) {
  return IpAddress::from_bytes(std::as_bytes(std::span(s.data(), s.size())));
}

// The flow record the documented mapping gives for what libprotobuf parsed.
inline FlowRecord expected_record(const flowpb::FlowMessage& m, const IpAddress& exporter) {
  FlowRecord f;
  f.src = address_of(m.src_addr());
  f.dst = address_of(m.dst_addr());
  f.nexthop = address_of(m.next_hop());
  f.exporter = m.sampler_address().empty() ? exporter : address_of(m.sampler_address());
  f.pcount = m.packets();
  f.bcount = m.bytes();
  f.stime_ms = static_cast<std::int64_t>(m.time_flow_start_ns() / 1'000'000);
  f.etime_ms = static_cast<std::int64_t>(m.time_flow_end_ns() / 1'000'000);
  f.input = m.in_if();
  f.output = m.out_if();
  f.src_as = m.src_as();
  f.dst_as = m.dst_as();
  f.sampling_interval = m.sampling_rate() == 0 ? 1u : static_cast<std::uint32_t>(m.sampling_rate());
  f.protocol = static_cast<std::uint8_t>(m.proto());
  f.tos = static_cast<std::uint8_t>(m.ip_tos());
  f.src_mask = static_cast<std::uint8_t>(m.src_net());
  f.dst_mask = static_cast<std::uint8_t>(m.dst_net());
  f.fields = core::kProtocol | core::kPackets | core::kBytes | core::kTos | core::kInterfaces | core::kAsNumbers |
             core::kMasks;
  if (!f.src.empty()) f.fields |= core::kSrcAddr;
  if (!f.dst.empty()) f.fields |= core::kDstAddr;
  if (!f.nexthop.empty()) f.fields |= core::kNextHop;
  if (m.time_flow_start_ns() != 0 || m.time_flow_end_ns() != 0) f.fields |= core::kTimes;
  const std::uint32_t p = m.proto();
  if (p == 6) {
    f.tcp_flags = static_cast<std::uint8_t>(m.tcp_flags() & 0xff);
    f.fields |= core::kTcpFlags;
  }
  if (p == 6 || p == 17 || p == 132 || p == 136) {
    f.sport = static_cast<std::uint16_t>(m.src_port());
    f.dport = static_cast<std::uint16_t>(m.dst_port());
    f.fields |= core::kPorts;
  }
  if (p == 1 || p == 58) {
    f.icmp_type = static_cast<std::uint8_t>(m.icmp_type());
    f.icmp_code = static_cast<std::uint8_t>(m.icmp_code());
    f.fields |= core::kIcmp;
  }
  switch (m.type()) {
    case flowpb::FlowMessage::SFLOW_5:
      f.source_type = core::SourceType::sflow;
      f.source_version = 5;
      break;
    case flowpb::FlowMessage::NETFLOW_V5: f.source_version = 5; break;
    case flowpb::FlowMessage::NETFLOW_V9: f.source_version = 9; break;
    case flowpb::FlowMessage::IPFIX:
      f.source_type = core::SourceType::ipfix;
      f.source_version = 10;
      break;
    default: break;
  }
  return f;
}

inline std::string differences(const FlowRecord& got, const FlowRecord& want) {
  std::string d;
  const auto field = [&](const char* name, auto a, auto b) {
    if (a != b) d += std::string(name) + ": reader " + std::to_string(a) + ", libprotobuf " + std::to_string(b) + "; ";
  };
  const auto address = [&](const char* name, const IpAddress& a, const IpAddress& b) {
    if (a != b) d += std::string(name) + ": reader " + a.to_string() + ", libprotobuf " + b.to_string() + "; ";
  };
  address("src", got.src, want.src);
  address("dst", got.dst, want.dst);
  address("nexthop", got.nexthop, want.nexthop);
  address("exporter", got.exporter, want.exporter);
  field("pcount", got.pcount, want.pcount);
  field("bcount", got.bcount, want.bcount);
  field("stime_ms", got.stime_ms, want.stime_ms);
  field("etime_ms", got.etime_ms, want.etime_ms);
  field("input", got.input, want.input);
  field("output", got.output, want.output);
  field("src_as", got.src_as, want.src_as);
  field("dst_as", got.dst_as, want.dst_as);
  field("sampling_interval", got.sampling_interval, want.sampling_interval);
  field("fields", got.fields, want.fields);
  field("sport", got.sport, want.sport);
  field("dport", got.dport, want.dport);
  field("source_version", got.source_version, want.source_version);
  field("protocol", unsigned{got.protocol}, unsigned{want.protocol});
  field("tcp_flags", unsigned{got.tcp_flags}, unsigned{want.tcp_flags});
  field("tos", unsigned{got.tos}, unsigned{want.tos});
  field("src_mask", unsigned{got.src_mask}, unsigned{want.src_mask});
  field("dst_mask", unsigned{got.dst_mask}, unsigned{want.dst_mask});
  field("icmp_type", unsigned{got.icmp_type}, unsigned{want.icmp_type});
  field("icmp_code", unsigned{got.icmp_code}, unsigned{want.icmp_code});
  field("source_type", static_cast<int>(got.source_type), static_cast<int>(want.source_type));
  field("input_format", static_cast<int>(got.input_format), static_cast<int>(want.input_format));
  field("output_format", static_cast<int>(got.output_format), static_cast<int>(want.output_format));
  return d;
}

// A varint at `at` (at most 10 bytes): its value and length, or nullopt when it does not end.
struct Varint {
  std::uint64_t value;
  std::size_t length;
  bool over_64_bits;
};
inline std::optional<Varint> varint_at(std::span<const std::uint8_t> b, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 10 && at + i < b.size(); ++i) {
    const std::uint8_t byte = b[at + i];
    v |= std::uint64_t{byte & 0x7fu} << (7 * i);
    if (!(byte & 0x80u)) return Varint{v, i + 1, i == 9 && byte > 1};
  }
  return std::nullopt;
}

// The last value of each varint field as sent (libprotobuf's raw view: UnknownFieldSet).
inline std::optional<std::uint64_t> last_varint(const google::protobuf::UnknownFieldSet& raw, int number) {
  std::optional<std::uint64_t> v;
  for (int i = 0; i < raw.field_count(); ++i)
    if (raw.field(i).number() == number && raw.field(i).type() == google::protobuf::UnknownField::TYPE_VARINT)
      v = raw.field(i).varint();
  return v;
}

// Why the reader may refuse what libprotobuf accepts: "" when the refusal is one of the documented
// stricter cases, else what is wrong.
inline std::string check_stricter(std::span<const std::uint8_t> b, const core::Error& e) {
  const std::string what = std::string(core::to_string(e.code)) + " at " + std::to_string(e.offset);
  switch (e.code) {
    case Errc::bad_address_length: {
      const auto tag = varint_at(b, e.offset);
      if (!tag) return "bad_address_length: no tag at " + what;
      const auto n = varint_at(b, e.offset + tag->length);
      const std::uint64_t field = tag->value >> 3;
      if ((tag->value & 7) == 2 && (field == 6 || field == 7 || field == 11 || field == 12) && n && n->value != 0 &&
          n->value != 4 && n->value != 16)
        return "";
      return "refused as " + what + " without an address of a wrong length there";
    }
    case Errc::bad_wire_type: {
      const auto tag = varint_at(b, e.offset);
      if (!tag) return "bad_wire_type: no tag at " + what;
      const std::uint64_t field = tag->value >> 3, wire = tag->value & 7;
      if (wire == 3 || wire == 4) return "";                                                     // a group
      if (wire == 0 && (field == 6 || field == 7 || field == 11 || field == 12)) return "";  // address as varint
      if (field > 536'870'911u) return "";  // libprotobuf keeps only 32 bits of the tag
      return "refused as " + what + " for a tag libprotobuf reads";
    }
    case Errc::bad_varint: {
      const auto v = varint_at(b, e.offset);
      if (v && v->over_64_bits) return "";
      return "refused as " + what + " without a varint over 64 bits there";
    }
    case Errc::bad_field_value: {
      google::protobuf::UnknownFieldSet raw;
      if (!raw.ParseFromArray(b.data(), static_cast<int>(b.size()))) return "UnknownFieldSet refuses what FlowMessage accepts";
      const auto over = [&](int number, std::uint64_t max) {
        const auto v = last_varint(raw, number);
        return v && *v > max;
      };
      constexpr std::uint64_t u32 = 0xffff'ffffu;
      if (over(20, 255) || over(23, 255) || over(31, 255) || over(32, 255) || over(21, 65535) || over(22, 65535) ||
          over(16, 128) || over(17, 128) || over(3, u32) || over(18, u32) || over(19, u32) || over(14, u32) ||
          over(15, u32))
        return "";
      return "refused as " + what + " with every value in range";
    }
    default: return "refused as " + what + ", which libprotobuf accepts";
  }
}

}  // namespace goflow_agreement_detail

// "" when the reader and libprotobuf agree on `message` (one FlowMessage, no length prefix), else
// the disagreement.
inline std::string goflow_disagreement(std::span<const std::uint8_t> message) {
  using namespace goflow_agreement_detail;
  flowpb::FlowMessage m;
  const bool library_accepts = m.ParseFromArray(message.data(), static_cast<int>(message.size()));
  const IpAddress exporter = *IpAddress::parse("127.0.0.1");
  FlowRecord f;
  const auto read = decode::goflow::decode_flow_message(std::as_bytes(message), exporter, f);
  if (!library_accepts) return read ? "the reader accepts what libprotobuf refuses" : "";
  if (!read) return check_stricter(message, read.error());
  return differences(f, expected_record(m, exporter));
}

}  // namespace overflowd::test
