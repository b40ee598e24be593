#include "decode/goflow.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <bit>
#include <cstring>
#include <charconv>
#include <string_view>
#include <type_traits>
#include <utility>

namespace overflowd::decode::goflow {

using core::Errc;

namespace {

// The values of one FlowMessage that the flow record takes, as read (proto3: absent is zero).
// The varints are slots of one array, so that the reader stores a value by a table lookup.
enum Slot : std::uint8_t {
  sType, sSamplingRate, sBytes, sPackets, sStartNs, sEndNs, sProto, sSrcPort, sDstPort, sInIf, sOutIf, sTos,
  sTcpFlags, sIcmpType, sIcmpCode, sSrcAs, sDstAs, sSrcNet, sDstNet,
  sIgnored,  // a varint field the record does not take
  kSlots,
  sBytesField = kSlots,  // an address field (bytes): a varint there is refused
};
// The addresses are read straight into the output record (src, dst, nexthop; the sampler's into
// exporter, which finish() sets to the datagram's when there is none).
struct Raw {  // not initialised: zero_fill() it (all absent: zero)
  std::array<std::uint64_t, kSlots> u;
};

// Per message, a Raw is zeroed and a FlowRecord copied from a fresh one with 16-byte stores:
// value-initialising either compiles to `rep stos`, whose start-up costs more than these stores.
template <class T>
[[gnu::always_inline]] inline void zero_fill(T& t) noexcept {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) >= 16);
  using Zero16 = std::uint64_t __attribute__((vector_size(16)));
  auto* const p = reinterpret_cast<unsigned char*>(&t);
  const Zero16 zero{};
  // One store per 16 bytes, unrolled here (a loop would be turned back into a memset).
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (std::memcpy(p + 16 * I, &zero, sizeof zero), ...);
  }(std::make_index_sequence<sizeof(T) / 16>{});
  if constexpr (sizeof(T) % 16 != 0) std::memcpy(p + sizeof(T) - 16, &zero, sizeof zero);  // the tail, overlapping
}
const core::FlowRecord kFreshRecord{};

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

// Field number -> slot, for the fields up to kTimeFlowEndNs; the others are ignored.
constexpr std::array<std::uint8_t, kTimeFlowEndNs + 1> kSlotOf = [] {
  std::array<std::uint8_t, kTimeFlowEndNs + 1> t{};
  t.fill(sIgnored);
  t[kType] = sType, t[kSamplingRate] = sSamplingRate, t[kBytes] = sBytes, t[kPackets] = sPackets;
  t[kSrcAs] = sSrcAs, t[kDstAs] = sDstAs, t[kSrcNet] = sSrcNet, t[kDstNet] = sDstNet, t[kInIf] = sInIf;
  t[kOutIf] = sOutIf, t[kProto] = sProto, t[kSrcPort] = sSrcPort, t[kDstPort] = sDstPort, t[kIpTos] = sTos;
  t[kTcpFlags] = sTcpFlags, t[kIcmpType] = sIcmpType, t[kIcmpCode] = sIcmpCode;
  t[kTimeFlowStartNs] = sStartNs, t[kTimeFlowEndNs] = sEndNs;
  t[kSrcAddr] = sBytesField, t[kDstAddr] = sBytesField, t[kSamplerAddress] = sBytesField, t[kNextHop] = sBytesField;
  return t;
}();

std::unexpected<core::Error> refuse_at(Errc code, std::size_t offset) noexcept { return core::fail(code, offset, kVersionTag); }

// Checks the ranges and fills the record, a fresh one (FlowRecord{}) with the message's addresses
// read into it: the members no FlowMessage field sets keep their defaults. `at` is the message's offset, for errors.
// Hot: otherwise GCC may lay it out for size, dividing the times by 10^6 with `div`.
[[gnu::hot]] core::Result<void> finish(const Raw& r, const core::IpAddress& exporter, std::size_t at, core::FlowRecord& f) noexcept {
  if (r.u[sProto] > 255 || r.u[sSrcPort] > 65535 || r.u[sDstPort] > 65535 || r.u[sTos] > 255 || r.u[sIcmpType] > 255 ||
      r.u[sIcmpCode] > 255 || r.u[sSrcNet] > 128 || r.u[sDstNet] > 128 || r.u[sSamplingRate] > UINT32_MAX || r.u[sInIf] > UINT32_MAX ||
      r.u[sOutIf] > UINT32_MAX || r.u[sSrcAs] > UINT32_MAX || r.u[sDstAs] > UINT32_MAX)
    return refuse_at(Errc::bad_field_value, at);
  if (f.exporter.empty()) f.exporter = exporter;  // no sampler address
  f.pcount = r.u[sPackets];
  f.bcount = r.u[sBytes];
  f.stime_ms = static_cast<std::int64_t>(r.u[sStartNs] / 1'000'000);
  f.etime_ms = static_cast<std::int64_t>(r.u[sEndNs] / 1'000'000);
  f.input = static_cast<std::uint32_t>(r.u[sInIf]);
  f.output = static_cast<std::uint32_t>(r.u[sOutIf]);
  f.src_as = static_cast<std::uint32_t>(r.u[sSrcAs]);
  f.dst_as = static_cast<std::uint32_t>(r.u[sDstAs]);
  f.sampling_interval = r.u[sSamplingRate] == 0 ? 1u : static_cast<std::uint32_t>(r.u[sSamplingRate]);
  f.protocol = static_cast<std::uint8_t>(r.u[sProto]);
  f.tos = static_cast<std::uint8_t>(r.u[sTos]);
  f.src_mask = static_cast<std::uint8_t>(r.u[sSrcNet]);
  f.dst_mask = static_cast<std::uint8_t>(r.u[sDstNet]);
  std::uint32_t fields = core::kProtocol | core::kPackets | core::kBytes | core::kTos | core::kInterfaces |
                         core::kAsNumbers | core::kMasks;
  if (!f.src.empty()) fields |= core::kSrcAddr;
  if (!f.dst.empty()) fields |= core::kDstAddr;
  if (!f.nexthop.empty()) fields |= core::kNextHop;
  if (r.u[sStartNs] || r.u[sEndNs]) fields |= core::kTimes;
  switch (f.protocol) {
    case 6:  // TCP
      f.tcp_flags = static_cast<std::uint8_t>(r.u[sTcpFlags] & 0xff);
      fields |= core::kTcpFlags;
      [[fallthrough]];
    case 17:   // UDP
    case 132:  // SCTP
    case 136:  // UDP-Lite
      f.sport = static_cast<std::uint16_t>(r.u[sSrcPort]);
      f.dport = static_cast<std::uint16_t>(r.u[sDstPort]);
      fields |= core::kPorts;
      break;
    case 1:   // ICMP
    case 58:  // ICMPv6
      f.icmp_type = static_cast<std::uint8_t>(r.u[sIcmpType]);
      f.icmp_code = static_cast<std::uint8_t>(r.u[sIcmpCode]);
      fields |= core::kIcmp;
      break;
    default:
      break;
  }
  f.fields = fields;
  switch (static_cast<std::uint32_t>(r.u[sType])) {  // an enum is an int32: its low 32 bits, as libprotobuf reads it
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

// The low 7 bits of each of the 8 bytes of `w` (little-endian), packed: 56 bits.
constexpr std::uint64_t gather7(std::uint64_t w) noexcept {
  w &= 0x7f7f7f7f7f7f7f7full;
  w = (w & 0x007f007f007f007full) | (w & 0x7f007f007f007f00ull) >> 1;
  w = (w & 0x00003fff00003fffull) | (w & 0x3fff00003fff0000ull) >> 2;
  return (w & 0x000000000fffffffull) | (w & 0x0fffffff00000000ull) >> 4;
}
static_assert(gather7(0x0000000000000000ull) == 0 && gather7(0x7f) == 0x7f && gather7(0x01ff) == 0xff &&
              gather7(0x7f7f7f7f7f7f7f7full) == (std::uint64_t{1} << 56) - 1 && gather7(0x0100000000000080ull) == std::uint64_t{1} << 49);

class Reader {
public:
  explicit Reader(core::Bytes b) noexcept : p_(b.data()), begin_(b.data()), end_(b.data() + b.size()) {}
  [[nodiscard]] bool done() const noexcept { return p_ == end_; }
  [[nodiscard]] std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
  [[nodiscard]] const std::byte* pos() const noexcept { return p_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  // A varint of at most 10 bytes whose value fits 64 bits; false when it runs off the end or is longer.
  [[nodiscard, gnu::always_inline]] bool varint(std::uint64_t& v) noexcept {
    // Most tags and values are one byte; with 8 bytes left, one 8-byte load reads a varint of up to
    // 8 bytes (the 9th and 10th, which a nanosecond time needs, are read one by one, each only
    // when it is there: the last field of a message is often such a time).
    const std::ptrdiff_t left = end_ - p_;
    if (left >= 1) [[likely]] {
      const auto b0 = static_cast<std::uint8_t>(p_[0]);
      if (!(b0 & 0x80u)) {
        v = b0;
        p_ += 1;
        return true;
      }
    }
    if constexpr (std::endian::native == std::endian::little) {
      if (left >= 8) [[likely]] {
        std::uint64_t w;
        std::memcpy(&w, p_, sizeof w);
        const std::uint64_t stops = ~w & 0x8080808080808080ull;  // the bytes that end the varint
        if (stops != 0) {
          const unsigned bytes = static_cast<unsigned>(std::countr_zero(stops)) / 8 + 1;  // 2..8
          if (bytes < 8) w &= (std::uint64_t{1} << (bytes * 8)) - 1;
          v = gather7(w);
          p_ += bytes;
          return true;
        }
        if (left < 9) return false;  // runs off the end
        const std::uint64_t low = gather7(w);  // 56 bits
        const auto b8 = static_cast<std::uint8_t>(p_[8]);
        if (!(b8 & 0x80u)) {
          v = low | std::uint64_t{b8} << 56;
          p_ += 9;
          return true;
        }
        if (left < 10) return false;
        const auto b9 = static_cast<std::uint8_t>(p_[9]);
        if (b9 > 1) return false;  // the 10th byte holds bit 63 only
        v = low | std::uint64_t{b8 & 0x7fu} << 56 | std::uint64_t{b9} << 63;
        p_ += 10;
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
  // A varint of one or two bytes (every tag of a field up to 2047); false, reading nothing, otherwise.
  [[nodiscard, gnu::always_inline]] bool tag12(std::uint64_t& v) noexcept {
    if (end_ - p_ < 2) return false;
    const auto b0 = static_cast<std::uint8_t>(p_[0]);
    if (!(b0 & 0x80u)) {
      v = b0;
      p_ += 1;
      return true;
    }
    const auto b1 = static_cast<std::uint8_t>(p_[1]);
    if (b1 & 0x80u) return false;
    v = (b0 & 0x7fu) | std::uint64_t{b1} << 7;
    p_ += 2;
    return true;
  }
  // varint() without the value: the same bytes accepted and refused.
  [[nodiscard, gnu::always_inline]] bool skip_varint() noexcept {
    if constexpr (std::endian::native == std::endian::little) {
      const std::ptrdiff_t left = end_ - p_;
      if (left >= 8) [[likely]] {
        std::uint64_t w;
        std::memcpy(&w, p_, sizeof w);
        if (const std::uint64_t stops = ~w & 0x8080808080808080ull; stops != 0) {
          p_ += static_cast<unsigned>(std::countr_zero(stops)) / 8 + 1;
          return true;
        }
        if (left < 9) return false;
        if (!(static_cast<std::uint8_t>(p_[8]) & 0x80u)) {
          p_ += 9;
          return true;
        }
        if (left < 10 || static_cast<std::uint8_t>(p_[9]) > 1) return false;
        p_ += 10;
        return true;
      }
    }
    std::uint64_t ignored = 0;
    return varint(ignored);
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

constexpr bool is_bytes_field(std::uint32_t field) noexcept {
  return field == kSrcAddr || field == kDstAddr || field == kSamplerAddress || field == kNextHop;
}

// The repeated varint fields of proto/flow.proto, which proto3 writes packed (one length-delimited
// run of varints): mpls_ttl, mpls_label, bgp_communities, as_path, layer_stack.
constexpr bool is_packed_varints(std::uint32_t field) noexcept {
  return field == 80 || field == 81 || field == 101 || field == 102 || field == 103;
}

// What the reader does with a field, by its tag (field number and wire type): a value below
// sIgnored is the slot a varint goes to; the others are these.
enum Action : std::uint8_t {
  aVarintIgnored = sIgnored,  // a varint, checked, not kept
  aVarintOnBytes,             // a varint where an address belongs: the varint checked, then refused
  aAddress,                   // length-delimited address (src, dst, sampler, next hop)
  aPacked,                    // length-delimited run of varints, checked, not kept
  aSkipLength,                // length-delimited, not read (unknown fields, etype names...)
  aFixed64,
  aFixed32,
  aBadWire,                   // field 0, groups (3, 4) and the undefined wire types 6 and 7
};

constexpr std::uint8_t action_of(std::uint64_t field, unsigned wire) noexcept {
  if (field == 0) return aBadWire;
  switch (wire) {
    case 0:
      if (is_bytes_field(static_cast<std::uint32_t>(field))) return aVarintOnBytes;
      return field < kSlotOf.size() ? kSlotOf[field] : std::uint8_t{aVarintIgnored};
    case 1: return aFixed64;
    case 5: return aFixed32;
    case 2:
      if (is_packed_varints(static_cast<std::uint32_t>(field))) return aPacked;
      return is_bytes_field(static_cast<std::uint32_t>(field)) ? std::uint8_t{aAddress} : std::uint8_t{aSkipLength};
    default: return aBadWire;
  }
}

// The actions of the tags of fields 0 to 127 (one or two bytes), looked up instead of decided.
constexpr std::array<std::uint8_t, 128 * 8> kActionOf = [] {
  std::array<std::uint8_t, 128 * 8> t{};
  for (std::size_t tag = 0; tag < t.size(); ++tag) t[tag] = action_of(tag >> 3, static_cast<unsigned>(tag & 7));
  return t;
}();

// The record's member an address field (kSrcAddr, kDstAddr, kSamplerAddress, kNextHop) is read into.
[[gnu::always_inline]] inline core::IpAddress& address_field(core::FlowRecord& f, std::uint64_t field) noexcept {
  return field == kSrcAddr ? f.src : field == kDstAddr ? f.dst : field == kSamplerAddress ? f.exporter : f.nexthop;
}

// The fields every serializer writes most (a varint of up to 9 bytes or an IPv4 address under a
// tag of one or two bytes), read while 16 bytes are left so that every load is in bounds and no
// length is checked. It stops at the first field of any other kind (or a tag, varint or length it
// does not take), before it: read_flow reads that field and the rest, so both accept, refuse and
// store the same as read_flow alone. Returns where it stopped.
[[gnu::always_inline]] inline const std::byte* read_common(const std::byte* p, const std::byte* end, Raw& r, core::FlowRecord& f) noexcept {
  if constexpr (std::endian::native != std::endian::little) return p;
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  while (end - p >= 16) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    std::uint64_t tag;
    const std::byte* q;
    if (!(w & 0x80u)) {
      tag = w & 0x7fu;
      q = p + 1;
    } else if (!(w & 0x8000u)) {
      tag = (w & 0x7fu) | (w >> 1 & 0x3f80u);
      q = p + 2;
    } else {
      break;
    }
    if (tag >= kActionOf.size()) break;
    const std::uint8_t action = kActionOf[tag];
    if (action <= aVarintIgnored) {  // a varint: its slot (u[sIgnored] takes short ignored ones, never read)
      // One and two bytes decided by a branch (predicted, the next position does not wait for the load).
      const auto b0 = static_cast<std::uint8_t>(q[0]);
      if (!(b0 & 0x80u)) {
        r.u[action] = b0;
        p = q + 1;
        continue;
      }
      std::uint64_t x;
      std::memcpy(&x, q, sizeof x);
      if (!(x & 0x8000u)) {
        r.u[action] = (x & 0x7fu) | (x >> 1 & 0x3f80u);
        p = q + 2;
        continue;
      }
      const std::uint64_t stops = ~x & kHigh;
      if (stops != 0) {
        const unsigned bytes = static_cast<unsigned>(std::countr_zero(stops)) / 8 + 1;  // 3..8
        if (action != aVarintIgnored) {  // (MACs, sequence numbers: only their length matters)
          if (bytes < 8) x &= (std::uint64_t{1} << (bytes * 8)) - 1;
          r.u[action] = gather7(x);
        }
        p = q + bytes;
        continue;
      }
      const auto b8 = static_cast<std::uint8_t>(q[8]);  // in bounds: q + 8 < p + 16
      if (b8 & 0x80u) break;  // 10 bytes
      if (action != aVarintIgnored) r.u[action] = gather7(x) | std::uint64_t{b8} << 56;
      p = q + 9;
      continue;
    }
    if (action == aAddress && static_cast<std::uint8_t>(q[0]) == 4) {  // q + 5 <= p + 7
      core::IpAddress& a = address_field(f, tag >> 3);
      a.assign_v4(q + 1);
      p = q + 5;
      continue;
    }
    break;
  }
  return p;
}

// `base` is the message's offset in the Kafka message, for errors.
core::Result<void> read_flow(core::Bytes message, std::size_t base, Raw& r, core::FlowRecord& f) noexcept {
  Reader in(message);
  in.skip(static_cast<std::size_t>(read_common(message.data(), message.data() + message.size(), r, f) - message.data()));
  const auto offset_of = [&](const std::byte* p) { return base + static_cast<std::size_t>(p - message.data()); };
  while (!in.done()) {
    const std::byte* const tag_p = in.pos();
    std::uint64_t tag = 0;
    if (!in.tag12(tag)) {  // not a tag of one or two bytes (fields 1 to 2047): the general case
      // A tag is at most 5 bytes (libprotobuf refuses a longer one, even when its value is small).
      if (!in.varint(tag) || in.pos() - tag_p > 5) return refuse_at(Errc::bad_varint, offset_of(tag_p));
      if (tag >> 3 > 536'870'911u) return refuse_at(Errc::bad_wire_type, offset_of(tag_p));
    }
    const std::uint8_t action =
        tag < kActionOf.size() ? kActionOf[tag] : action_of(tag >> 3, static_cast<unsigned>(tag & 7));
    const std::byte* const value_p = in.pos();
    if (action < aVarintIgnored) {  // a varint the record takes
      if (!in.varint(r.u[action])) return refuse_at(Errc::bad_varint, offset_of(value_p));
      continue;
    }
    switch (action) {
      case aVarintIgnored:
      case aVarintOnBytes:
        // Other fields (sequence numbers, MACs, VLANs, repeated unpacked) are not reported: their
        // varints are only checked.
        if (!in.skip_varint()) return refuse_at(Errc::bad_varint, offset_of(value_p));
        if (action == aVarintOnBytes) return refuse_at(Errc::bad_wire_type, offset_of(tag_p));
        break;
      case aFixed64:  // no field of ours
        if (in.remaining() < 8) return refuse_at(Errc::field_overrun, offset_of(tag_p));
        in.skip(8);
        break;
      case aFixed32:
        if (in.remaining() < 4) return refuse_at(Errc::field_overrun, offset_of(tag_p));
        in.skip(4);
        break;
      case aAddress:
      case aPacked:
      case aSkipLength: {  // length-delimited: addresses, packed repeated fields, unknown fields
        std::uint64_t n = 0;
        // A length is at most 5 bytes too (libprotobuf reads it as a 32-bit size).
        if (!in.varint(n) || in.pos() - value_p > 5) return refuse_at(Errc::bad_varint, offset_of(value_p));
        if (n > in.remaining()) return refuse_at(Errc::field_overrun, offset_of(tag_p));
        const core::Bytes value = in.take(static_cast<std::size_t>(n));
        if (action == aPacked) {
          // Not reported, but libprotobuf refuses the message when one of them does not end: so do we.
          Reader packed(value);
          while (!packed.done()) {
            const std::byte* const inner_p = packed.pos();
            if (!packed.skip_varint()) return refuse_at(Errc::bad_varint, offset_of(inner_p));
          }
          break;
        }
        if (action == aSkipLength) break;
        if (n != 0 && n != 4 && n != 16) return refuse_at(Errc::bad_address_length, offset_of(tag_p));
        // Written in place (IpAddress::assign_v4 says why; from_bytes is a call and a variable memcpy).
        core::IpAddress& a = address_field(f, tag >> 3);
        if (n == 4) {
          a.assign_v4(value.data());
        } else if (n == 16) {
          a = core::IpAddress::from_bytes(value);
        } else {
          a = core::IpAddress{};  // n == 0: none
        }
        break;
      }
      default:  // 3, 4: groups (proto2 only), 6, 7: none; field 0
        return refuse_at(Errc::bad_wire_type, offset_of(tag_p));
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
  zero_fill(r);
  core::FlowRecord f;
  if (auto read = read_flow(message, 0, r, f); !read) return read;
  if (auto done = finish(r, exporter, 0, f); !done) return done;
  out = f;
  return {};
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
    out.push_back(kFreshRecord);
    core::FlowRecord& f = out.back();
    Raw r;
    zero_fill(r);
    if (auto read = read_flow(message, body, r, f); !read) return refuse(read.error());
    if (auto done = finish(r, datagram.exporter, body, f); !done) return refuse(done.error());
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
  zero_fill(r);
  core::FlowRecord f;
  const bool ok = json_uint(o, "type", r.u[sType], kTypeNames) && json_uint(o, "sampling_rate", r.u[sSamplingRate]) &&
                  json_uint(o, "bytes", r.u[sBytes]) && json_uint(o, "packets", r.u[sPackets]) &&
                  json_uint(o, "time_flow_start_ns", r.u[sStartNs]) && json_uint(o, "time_flow_end_ns", r.u[sEndNs]) &&
                  json_uint(o, "proto", r.u[sProto], kProtocolNames) && json_uint(o, "src_port", r.u[sSrcPort]) &&
                  json_uint(o, "dst_port", r.u[sDstPort]) && json_uint(o, "in_if", r.u[sInIf]) &&
                  json_uint(o, "out_if", r.u[sOutIf]) && json_uint(o, "ip_tos", r.u[sTos]) &&
                  json_uint(o, "tcp_flags", r.u[sTcpFlags]) && json_uint(o, "icmp_type", r.u[sIcmpType]) &&
                  json_uint(o, "icmp_code", r.u[sIcmpCode]) && json_uint(o, "src_as", r.u[sSrcAs]) &&
                  json_uint(o, "dst_as", r.u[sDstAs]) && json_net(o, "src_net", r.u[sSrcNet]) &&
                  json_net(o, "dst_net", r.u[sDstNet]);
  if (!ok) return refuse_at(Errc::bad_field_value, 0);
  if (!json_address(o, "src_addr", f.src) || !json_address(o, "dst_addr", f.dst) ||
      !json_address(o, "next_hop", f.nexthop) || !json_address(o, "sampler_address", f.exporter))
    return refuse_at(Errc::bad_field_value, 0);
  if (auto done = finish(r, datagram.exporter, 0, f); !done) return std::unexpected(done.error());
  out.push_back(f);
  return 1;
}

}  // namespace overflowd::decode::goflow
