// The hand-written goflow2 protobuf reader held to libprotobuf (tests/support/goflow_agreement.hpp,
// the same rules as the differential fuzz target fuzz/goflow_diff_fuzz.cpp), without clang:
// a few hundred random FlowMessages written by libprotobuf (seeded), each also cut short and with a
// byte changed; every case where the reader is deliberately stricter than libprotobuf; and the inputs
// on which fuzzing found them disagreeing (also in fuzz/regressions/goflow_diff/).
#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "decode/goflow.hpp"
#include "proto/flow.pb.h"
#include "support/goflow_agreement.hpp"

namespace {

using overflowd::core::Errc;
using overflowd::core::FlowRecord;
using overflowd::core::IpAddress;

std::string disagreement(const std::string& bytes) {
  return overflowd::test::goflow_disagreement(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out += digits[static_cast<unsigned char>(c) >> 4];
    out += digits[static_cast<unsigned char>(c) & 15];
  }
  return out;
}

bool library_accepts(const std::string& bytes) {
  flowpb::FlowMessage m;
  return m.ParseFromString(bytes);
}

Errc reader_refusal(const std::string& bytes) {
  FlowRecord f;
  const auto r = overflowd::decode::goflow::decode_flow_message(std::as_bytes(std::span(bytes.data(), bytes.size())),
                                                                 IpAddress{}, f);
  return r ? Errc::count_ : r.error().code;
}

class Random {
public:
  explicit Random(std::uint64_t seed) : rng_(seed) {}
  std::uint64_t below(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }
  bool chance(unsigned percent) { return below(100) < percent; }
  std::uint64_t u64() { return rng_(); }
  // Zero, small, a boundary, or any 32-bit value.
  std::uint32_t u32() {
    static constexpr std::uint32_t edges[] = {0, 1, 127, 128, 255, 256, 16383, 16384, 65535, 65536, 0x7fffffff, 0xffffffff};
    switch (below(4)) {
      case 0: return edges[below(std::size(edges))];
      case 1: return static_cast<std::uint32_t>(below(256));
      default: return static_cast<std::uint32_t>(u64());
    }
  }
  // Mostly a value the record holds (up to `max`), now and then one past it.
  std::uint32_t up_to(std::uint32_t max) { return chance(3) ? max + 1 + static_cast<std::uint32_t>(below(1000)) : static_cast<std::uint32_t>(below(std::uint64_t{max} + 1)); }
  std::string address() {
    const std::uint64_t k = below(20);
    const std::size_t n = k < 8 ? 4 : k < 15 ? 16 : k < 19 ? 0 : 1 + below(20);  // now and then a wrong length
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(below(256));
    return s;
  }

private:
  std::mt19937_64 rng_;
};

flowpb::FlowMessage random_message(Random& r) {
  flowpb::FlowMessage m;
  static constexpr std::uint32_t protocols[] = {0, 1, 6, 17, 47, 58, 132, 136, 255};
  if (r.chance(90)) m.set_type(static_cast<flowpb::FlowMessage::FlowType>(r.below(7)));  // 5, 6: unknown values
  if (r.chance(50)) m.set_time_received_ns(r.u64());
  if (r.chance(50)) m.set_sequence_num(r.u32());
  if (r.chance(70)) m.set_sampling_rate(r.chance(3) ? r.u64() : r.below(100'000));
  if (r.chance(60)) m.set_sampler_address(r.address());
  if (r.chance(80)) m.set_time_flow_start_ns(r.chance(10) ? r.u64() : 1'700'000'000'000'000'000ull + r.below(1ull << 40));
  if (r.chance(80)) m.set_time_flow_end_ns(r.chance(10) ? r.u64() : 1'700'000'000'000'000'000ull + r.below(1ull << 40));
  if (r.chance(90)) m.set_bytes(r.chance(20) ? r.u64() : r.below(1'000'000));
  if (r.chance(90)) m.set_packets(r.chance(20) ? r.u64() : r.below(10'000));
  if (r.chance(90)) m.set_src_addr(r.address());
  if (r.chance(90)) m.set_dst_addr(r.address());
  if (r.chance(50)) m.set_etype(r.chance(50) ? 0x800 : 0x86dd);
  if (r.chance(90)) m.set_proto(r.chance(80) ? protocols[r.below(std::size(protocols))] : r.up_to(255));
  if (r.chance(80)) m.set_src_port(r.up_to(65535));
  if (r.chance(80)) m.set_dst_port(r.up_to(65535));
  if (r.chance(70)) m.set_in_if(r.u32());
  if (r.chance(70)) m.set_out_if(r.u32());
  if (r.chance(30)) m.set_src_mac(r.u64());
  if (r.chance(30)) m.set_dst_vlan(r.u32());
  if (r.chance(70)) m.set_ip_tos(r.up_to(255));
  if (r.chance(30)) m.set_ip_ttl(r.u32());
  if (r.chance(70)) m.set_tcp_flags(r.chance(10) ? r.u32() : static_cast<std::uint32_t>(r.below(256)));
  if (r.chance(40)) m.set_icmp_type(r.up_to(255));
  if (r.chance(40)) m.set_icmp_code(r.up_to(255));
  if (r.chance(20)) m.set_ipv6_flow_label(r.u32());
  if (r.chance(70)) m.set_src_as(r.u32());
  if (r.chance(70)) m.set_dst_as(r.u32());
  if (r.chance(60)) m.set_next_hop(r.address());
  if (r.chance(20)) m.set_next_hop_as(r.u32());
  if (r.chance(70)) m.set_src_net(r.up_to(128));
  if (r.chance(70)) m.set_dst_net(r.up_to(128));
  if (r.chance(20)) m.set_bgp_next_hop(r.address());
  for (auto n = r.below(4); n-- > 0;) m.add_bgp_communities(r.u32());
  for (auto n = r.below(6); n-- > 0;) m.add_as_path(r.u32());
  for (auto n = r.below(3); n-- > 0;) m.add_mpls_label(r.u32());
  for (auto n = r.below(2); n-- > 0;) m.add_mpls_ip(r.address());
  for (auto n = r.below(4); n-- > 0;) m.add_layer_stack(static_cast<flowpb::FlowMessage::LayerStack>(r.below(12)));
  if (r.chance(10)) m.set_observation_domain_id(r.u32());
  return m;
}

TEST(GoflowAgreement, RandomMessagesFromLibprotobuf) {
  Random r(0x600f10'2026'1203ull);
  int both_accept = 0, reader_stricter = 0, both_refuse = 0;
  for (int i = 0; i < 400; ++i) {
    const flowpb::FlowMessage m = random_message(r);
    std::string bytes;
    ASSERT_TRUE(m.SerializeToString(&bytes));
    // As written, cut short, and with one byte changed.
    std::vector<std::string> variants{bytes};
    if (!bytes.empty()) {
      variants.push_back(bytes.substr(0, r.below(bytes.size())));
      std::string changed = bytes;
      changed[r.below(changed.size())] = static_cast<char>(r.below(256));
      variants.push_back(changed);
    }
    for (const std::string& v : variants) {
      const std::string d = disagreement(v);
      ASSERT_EQ(d, "") << "message " << i << ": " << hex(v);
      const bool lib = library_accepts(v), reader = reader_refusal(v) == Errc::count_;
      both_accept += lib && reader;
      reader_stricter += lib && !reader;
      both_refuse += !lib && !reader;
    }
  }
  // The messages reach every outcome: mostly accepted, some refused by both, some only by the reader.
  EXPECT_GT(both_accept, 300);
  EXPECT_GT(reader_stricter, 20);
  EXPECT_GT(both_refuse, 20);
}

// Each case where the reader refuses what libprotobuf accepts, with the reason it names.
TEST(GoflowAgreement, ReaderIsStricterOnlyWhereDocumented) {
  const auto stricter = [](const std::string& bytes, Errc reason) {
    SCOPED_TRACE(hex(bytes));
    EXPECT_TRUE(library_accepts(bytes));
    EXPECT_EQ(reader_refusal(bytes), reason);
    EXPECT_EQ(disagreement(bytes), "");
  };
  // An address of a wrong length (libprotobuf keeps any bytes).
  stricter(std::string("\x32\x05\x01\x02\x03\x04\x05", 7), Errc::bad_address_length);
  stricter(std::string("\x62\x01\x01", 3), Errc::bad_address_length);  // next_hop
  // An address field sent as a varint (libprotobuf keeps it as an unknown field).
  stricter(std::string("\x3a\x00\x38\x01", 4), Errc::bad_wire_type);  // dst_addr
  // A group (proto2 only; libprotobuf skips an unknown one).
  stricter(std::string("\xfb\x07\xfc\x07", 4), Errc::bad_wire_type);  // field 127, start and end
  // A varint whose 10th byte holds more than bit 63 (libprotobuf drops the excess).
  stricter(std::string("\x48\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11), Errc::bad_varint);  // bytes
  // Values the record cannot hold: as libprotobuf writes them, and over 32 bits on the wire, where
  // libprotobuf truncates a uint32 field (proto 2^32 + 6 is 6 to libprotobuf).
  flowpb::FlowMessage m;
  m.set_proto(256);
  stricter(m.SerializeAsString(), Errc::bad_field_value);
  m.Clear();
  m.set_src_port(70000);
  stricter(m.SerializeAsString(), Errc::bad_field_value);
  m.Clear();
  m.set_dst_net(129);
  stricter(m.SerializeAsString(), Errc::bad_field_value);
  m.Clear();
  m.set_sampling_rate(1ull << 32);
  stricter(m.SerializeAsString(), Errc::bad_field_value);
  stricter(std::string("\xa0\x01\x86\x80\x80\x80\x10", 7), Errc::bad_field_value);  // proto 2^32 + 6
  stricter(std::string("\x90\x01\x80\x80\x80\x80\x10", 7), Errc::bad_field_value);  // in_if 2^32
}

// The inputs on which the reader and libprotobuf disagreed (fuzz/regressions/goflow_diff/ keeps the
// same bytes for the fuzz target's replay): both refuse them now.
TEST(GoflowAgreement, Regressions) {
  const auto refused_by_both = [](const std::string& bytes, Errc reason) {
    SCOPED_TRACE(hex(bytes));
    EXPECT_FALSE(library_accepts(bytes));
    EXPECT_EQ(reader_refusal(bytes), reason);
    EXPECT_EQ(disagreement(bytes), "");
  };
  // as_path (packed, field 102) whose last varint does not end inside the field: the reader skipped
  // the run unread; libprotobuf refuses the message (packed_as_path_unterminated.bin, from the
  // random messages above, one byte changed).
  refused_by_both(std::string("\xb2\x06\x03\x80\x80\x04", 6) + std::string("\xb2\x06\x02\x01\x9a", 5), Errc::bad_varint);
  refused_by_both(std::string("\x8a\x05\x01\xff", 4), Errc::bad_varint);  // mpls_label, one byte of a longer varint
  // A tag of 6 bytes whose value fits 32 bits (tag_six_bytes.bin, found by the fuzz target): the
  // reader took it; libprotobuf reads a tag of at most 5 bytes.
  refused_by_both(std::string("\x82\xa2\xa2\xa2\x86\x00\x00", 7), Errc::bad_varint);
  refused_by_both(std::string("\x88\x80\x80\x80\x80\x00\x02", 7), Errc::bad_varint);  // type, tag 6 bytes long
  // A length of 6 bytes whose value is 0 (length_six_bytes.bin, found by the fuzz target in CI):
  // the reader took it; libprotobuf reads a length of at most 5 bytes.
  refused_by_both(std::string("\x32\x80\x80\x80\x80\x80\x00", 7), Errc::bad_varint);         // src_addr
  refused_by_both(std::string("\xb2\x06\x81\x80\x80\x80\x80\x00\x01", 9), Errc::bad_varint);  // as_path, length 1
  // type 2^32 + 1 (type_over_32_bits.bin; the fuzz target found it once seeded with wide varints,
  // type_over_32_bits_fuzzed.bin): an enum is an int32,
  // libprotobuf keeps the low 32 bits (SFLOW_5); the reader took the whole value as unknown (NetFlow 0).
  const std::string type = std::string("\x08\x81\x80\x80\x80\x10", 6);
  EXPECT_TRUE(library_accepts(type));
  EXPECT_EQ(disagreement(type), "");
  FlowRecord f;
  ASSERT_TRUE(overflowd::decode::goflow::decode_flow_message(std::as_bytes(std::span(type.data(), type.size())), IpAddress{}, f));
  EXPECT_EQ(f.source_type, overflowd::core::SourceType::sflow);
  EXPECT_EQ(f.source_version, 5);
}

}  // namespace
