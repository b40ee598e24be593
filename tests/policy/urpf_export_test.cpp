// uRPF-lite on flows decoded from NetFlow v9 and IPFIX datagrams written by hand (RFC 3954, RFC
// 7011) with the ingress interface index (v9 INPUT_SNMP, type 10; IPFIX ingressInterface, IE 10):
// the exporter address comes from the datagram, the interface from the record.
#include "decode/dispatch.hpp"
#include "decode/export_builder.hpp"
#include "policy/policy.hpp"

#include <gtest/gtest.h>

namespace overflowd::policy {
namespace {

using test::Builder;

std::shared_ptr<const Policy> urpf_policy() {
  PolicySpec s;
  s.own_prefixes = {*guard::Cidr::parse("198.51.100.0/24")};
  s.interfaces.push_back({*core::IpAddress::parse("192.0.2.1"), 10, InterfaceRole::customer,
                          {*guard::Cidr::parse("203.0.113.0/25")}});
  s.interfaces.push_back({*core::IpAddress::parse("192.0.2.1"), 1, InterfaceRole::transit, {}});
  RuleSpec r;
  r.name = "urpf";
  r.reason = ReasonClass::spoofed_source;
  r.spoofed = true;
  r.multiplier = 100;
  s.rules.push_back(r);
  auto p = Policy::build(std::move(s));
  EXPECT_TRUE(p) << p.error();
  return *p;
}

struct Rec {
  const char* src;
  std::uint32_t input;
  bool spoofed;
};
constexpr Rec kRecords[] = {
    {"203.0.113.5", 10, false},   // customer, inside its prefix
    {"203.0.113.200", 10, true},  // customer, outside
    {"198.51.100.9", 1, true},    // my prefix in from transit
    {"8.8.4.4", 1, false},        // anyone else's from transit
    {"198.51.100.9", 5, false},   // undeclared interface
};

void check(const std::vector<core::FlowRecord>& flows) {
  ASSERT_EQ(flows.size(), std::size(kRecords));
  const auto p = urpf_policy();
  PolicyState state(*p);
  Decision d;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(flows[i].input, kRecords[i].input);
    EXPECT_EQ(flows[i].exporter, *core::IpAddress::parse("192.0.2.1"));
    p->evaluate(flows[i], state, 0, d);
    EXPECT_EQ(d.suspicious, kRecords[i].spoofed) << kRecords[i].src << " on " << kRecords[i].input;
    if (d.suspicious) {
      EXPECT_EQ(d.reasons.at(0).reason, ReasonClass::spoofed_source);
    }
  }
}

TEST(UrpfExport, NetflowV9WithInputSnmp) {
  // Template 256: IPV4_SRC_ADDR, IPV4_DST_ADDR, INPUT_SNMP, IN_PKTS, IN_BYTES, PROTOCOL.
  Builder b = test::v9_header(1, 100'000, 1'700'000'000, 2);
  b.begin_set(0).u16(256).u16(6).field(8, 4).field(12, 4).field(10, 4).field(2, 4).field(1, 4).field(4, 1).end_set();
  b.begin_set(256);
  for (const Rec& r : kRecords) b.ipv4(r.src).ipv4("8.8.8.8").u32(r.input).u32(10).u32(600).u8(17);
  b.end_set(4);
  decode::Dispatcher d;
  std::vector<core::FlowRecord> out;
  ASSERT_TRUE(d.decode(b.datagram("192.0.2.1"), out));
  check(out);
}

TEST(UrpfExport, IpfixWithIngressInterface) {
  Builder b = test::ipfix_header(1);
  b.begin_set(2).u16(256).u16(6).field(8, 4).field(12, 4).field(10, 4).field(2, 8).field(1, 8).field(4, 1).end_set();
  b.begin_set(256);
  for (const Rec& r : kRecords) b.ipv4(r.src).ipv4("8.8.8.8").u32(r.input).u64(10).u64(600).u8(17);
  b.end_set();
  b.end_message();
  decode::Dispatcher d;
  std::vector<core::FlowRecord> out;
  ASSERT_TRUE(d.decode(b.datagram("192.0.2.1"), out));
  check(out);
}

}  // namespace
}  // namespace overflowd::policy
