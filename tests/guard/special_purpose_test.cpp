// Every block of the IANA special-purpose registries (plus multicast and the IPv6 space outside
// 2000::/3), checked at its boundaries: the first and last address are special and name the block
// (or a block nested in it), and the addresses one before and one after are what this table says,
// worked out by hand from the registries rather than from the code under test.
#include "guard/special_purpose.hpp"

#include <gtest/gtest.h>

#include <set>

namespace overflowd::guard {
namespace {

// Expectations for the neighbours: "" not special, "reserved" the IPv6 space outside 2000::/3,
// "-" no such neighbour (the first or last address of the family), else the most specific block.
struct Case {
  const char* block;
  const char* name;
  const char* first_is;  // the most specific block holding the first address ("" = this block)
  const char* last_is;   // likewise for the last address
  const char* before;
  const char* after;
};

constexpr Case kCases[] = {
    // IPv4 Special-Purpose Address Registry
    {"0.0.0.0/8", "\"This network\"", "0.0.0.0/32", "", "-", ""},
    {"0.0.0.0/32", "\"This host on this network\"", "", "", "-", "0.0.0.0/8"},
    {"10.0.0.0/8", "Private-Use", "", "", "", ""},
    {"100.64.0.0/10", "Shared Address Space", "", "", "", ""},
    {"127.0.0.0/8", "Loopback", "", "", "", ""},
    {"169.254.0.0/16", "Link Local", "", "", "", ""},
    {"172.16.0.0/12", "Private-Use", "", "", "", ""},
    {"192.0.0.0/24", "IETF Protocol Assignments", "192.0.0.0/29", "", "", ""},
    {"192.0.0.0/29", "IPv4 Service Continuity Prefix", "", "", "", "192.0.0.8/32"},
    {"192.0.0.8/32", "IPv4 dummy address", "", "", "192.0.0.0/29", "192.0.0.9/32"},
    {"192.0.0.9/32", "Port Control Protocol Anycast", "", "", "192.0.0.8/32", "192.0.0.10/32"},
    {"192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "", "", "192.0.0.9/32", "192.0.0.0/24"},
    {"192.0.0.170/32", "NAT64/DNS64 Discovery", "", "", "192.0.0.0/24", "192.0.0.171/32"},
    {"192.0.0.171/32", "NAT64/DNS64 Discovery", "", "", "192.0.0.170/32", "192.0.0.0/24"},
    {"192.0.2.0/24", "Documentation (TEST-NET-1)", "", "", "", ""},
    {"192.31.196.0/24", "AS112-v4", "", "", "", ""},
    {"192.52.193.0/24", "AMT", "", "", "", ""},
    {"192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "", "", "", ""},
    {"192.88.99.2/32", "6a44-relay anycast address", "", "", "192.88.99.0/24", "192.88.99.0/24"},
    {"192.168.0.0/16", "Private-Use", "", "", "", ""},
    {"192.175.48.0/24", "Direct Delegation AS112 Service", "", "", "", ""},
    {"198.18.0.0/15", "Benchmarking", "", "", "", ""},
    {"198.51.100.0/24", "Documentation (TEST-NET-2)", "", "", "", ""},
    {"203.0.113.0/24", "Documentation (TEST-NET-3)", "", "", "", ""},
    {"224.0.0.0/4", "Multicast", "", "", "", "240.0.0.0/4"},
    {"240.0.0.0/4", "Reserved", "", "255.255.255.255/32", "224.0.0.0/4", "-"},
    {"255.255.255.255/32", "Limited Broadcast", "", "", "240.0.0.0/4", "-"},
    // IPv6 Special-Purpose Address Registry
    {"::/128", "Unspecified Address", "", "", "-", "::1/128"},
    {"::1/128", "Loopback Address", "", "", "::/128", "reserved"},
    {"::ffff:0:0/96", "IPv4-mapped Address", "", "", "reserved", "reserved"},
    {"64:ff9b::/96", "IPv4-IPv6 Translat.", "", "", "reserved", "reserved"},
    {"64:ff9b:1::/48", "IPv4-IPv6 Translat.", "", "", "reserved", "reserved"},
    {"100::/64", "Discard-Only Address Block", "", "", "reserved", "100:0:0:1::/64"},
    {"100:0:0:1::/64", "Dummy IPv6 Prefix", "", "", "100::/64", "reserved"},
    {"2001::/23", "IETF Protocol Assignments", "2001::/32", "", "", ""},
    {"2001::/32", "TEREDO", "", "", "", "2001::/23"},
    {"2001:1::1/128", "Port Control Protocol Anycast", "", "", "2001::/23", "2001:1::2/128"},
    {"2001:1::2/128", "Traversal Using Relays around NAT Anycast", "", "", "2001:1::1/128", "2001:1::3/128"},
    {"2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "", "", "2001:1::2/128", "2001::/23"},
    {"2001:2::/48", "Benchmarking", "", "", "2001::/23", "2001::/23"},
    {"2001:3::/32", "AMT", "", "", "2001::/23", "2001::/23"},
    {"2001:4:112::/48", "AS112-v6", "", "", "2001::/23", "2001::/23"},
    {"2001:10::/28", "Deprecated (previously ORCHID)", "", "", "2001::/23", "2001:20::/28"},
    {"2001:20::/28", "ORCHIDv2", "", "", "2001:10::/28", "2001:30::/28"},
    {"2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "", "", "2001:20::/28", "2001::/23"},
    {"2001:db8::/32", "Documentation", "", "", "", ""},
    {"2002::/16", "6to4", "", "", "", ""},
    {"2620:4f:8000::/48", "Direct Delegation AS112 Service", "", "", "", ""},
    {"3fff::/20", "Documentation", "", "", "", ""},
    {"5f00::/16", "Segment Routing (SRv6) SIDs", "", "", "reserved", "reserved"},
    {"fc00::/7", "Unique-Local", "", "", "reserved", "reserved"},
    {"fe80::/10", "Link-Local Unicast", "", "", "reserved", "reserved"},
    {"ff00::/8", "Multicast", "", "", "reserved", "-"},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.block; }

// Address arithmetic done here, bit by bit, independently of the code under test.
using Bytes16 = std::array<std::uint8_t, 16>;

struct Parsed {
  core::IpAddress network;
  unsigned length;
};

Parsed parse_block(std::string_view block) {
  const auto slash = block.find('/');
  auto a = core::IpAddress::parse(block.substr(0, slash));
  EXPECT_TRUE(a) << block;
  return {a.value_or(core::IpAddress{}), static_cast<unsigned>(std::stoi(std::string(block.substr(slash + 1))))};
}

core::IpAddress make(const core::IpAddress& like, const Bytes16& b) {
  return core::IpAddress::from_bytes(std::as_bytes(std::span(b.data(), like.size())));
}

core::IpAddress last_of(const Parsed& p) {
  Bytes16 b = p.network.bytes();
  const unsigned bits = static_cast<unsigned>(p.network.size()) * 8;
  for (unsigned i = p.length; i < bits; ++i) b[i / 8] = static_cast<std::uint8_t>(b[i / 8] | (0x80u >> (i % 8)));
  return make(p.network, b);
}

// +1 or -1 with carry; nullopt past either end of the family's space.
std::optional<core::IpAddress> step(const core::IpAddress& a, int delta) {
  Bytes16 b = a.bytes();
  for (std::size_t i = a.size(); i-- > 0;) {
    if (delta > 0) {
      if (++b[i] != 0) return make(a, b);
    } else {
      if (b[i]-- != 0) return make(a, b);
    }
  }
  return std::nullopt;
}

std::string describe(const SpecialRange* r) {
  if (!r) return "";
  if (r->cidr.network.empty()) return "reserved";
  return r->cidr.to_string();
}

std::string canonical(std::string_view block) {
  auto c = Cidr::parse(block);
  EXPECT_TRUE(c) << block;
  return c ? c->to_string() : "";
}

class RegistryBlock : public testing::TestWithParam<Case> {};

TEST_P(RegistryBlock, FirstAndLastAreSpecialAndNeighboursAreAsTheRegistrySays) {
  const Case& c = GetParam();
  const Parsed p = parse_block(c.block);
  const core::IpAddress first = p.network;
  const core::IpAddress last = last_of(p);

  const std::string self = canonical(c.block);
  const SpecialRange* at_first = special_purpose(first);
  ASSERT_NE(at_first, nullptr) << c.block << " first " << first.to_string();
  EXPECT_EQ(describe(at_first), *c.first_is ? canonical(c.first_is) : self) << "first " << first.to_string();
  const SpecialRange* at_last = special_purpose(last);
  ASSERT_NE(at_last, nullptr) << c.block << " last " << last.to_string();
  EXPECT_EQ(describe(at_last), *c.last_is ? canonical(c.last_is) : self) << "last " << last.to_string();
  EXPECT_TRUE(is_special_purpose(first));
  EXPECT_TRUE(is_special_purpose(last));

  // The block itself is in the table under its registry name.
  bool listed = false;
  for (const SpecialRange& r : special_purpose_ranges())
    if (r.cidr.to_string() == self) {
      listed = true;
      EXPECT_EQ(r.name, c.name) << c.block;
      EXPECT_FALSE(r.reference.empty());
    }
  EXPECT_TRUE(listed) << c.block;

  const auto before = step(first, -1);
  const auto after = step(last, +1);
  for (const auto& [label, neighbour, want] : {std::tuple{"before", before, c.before}, std::tuple{"after", after, c.after}}) {
    const std::string expected = want;
    if (expected == "-") {
      EXPECT_FALSE(neighbour) << c.block << " " << label;
      continue;
    }
    ASSERT_TRUE(neighbour) << c.block << " " << label;
    const std::string expect = (expected.empty() || expected == "reserved") ? expected : canonical(expected);
    EXPECT_EQ(describe(special_purpose(*neighbour)), expect) << c.block << " " << label << " " << neighbour->to_string();
  }
}

INSTANTIATE_TEST_SUITE_P(Iana, RegistryBlock, testing::ValuesIn(kCases), [](const testing::TestParamInfo<Case>& p) {
  std::string n = std::to_string(p.index) + "_";
  for (const char* c = p.param.block; *c; ++c) n += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
  return n;
});

TEST(SpecialPurpose, TheTableHoldsExactlyTheBlocksTestedHere) {
  std::multiset<std::string> tested, table;
  for (const Case& c : kCases) tested.insert(canonical(c.block));
  for (const SpecialRange& r : special_purpose_ranges()) table.insert(r.cidr.to_string());
  EXPECT_EQ(tested, table);
}

TEST(SpecialPurpose, Ipv6OutsideGlobalUnicastIsReserved) {
  auto at = [](const char* s) { return describe(special_purpose(*core::IpAddress::parse(s))); };
  EXPECT_EQ(at("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "reserved");
  EXPECT_EQ(at("2000::"), "");
  EXPECT_EQ(at("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "");
  EXPECT_EQ(at("4000::"), "reserved");
  EXPECT_EQ(at("::2"), "reserved");
  EXPECT_EQ(at("::8.8.8.8"), "reserved");  // IPv4-compatible (deprecated)
  EXPECT_EQ(at("fec0::1"), "reserved");    // site-local (deprecated)
}

TEST(SpecialPurpose, OrdinaryUnicastAddressesAreNotSpecial) {
  for (const char* s : {"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "126.255.255.255",
                        "128.0.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.255", "192.167.255.255", "198.17.255.255",
                        "198.20.0.0", "223.255.255.255", "2000::1", "2001:200::", "2001:4860:4860::8888",
                        "2606:4700::1111", "2a00:1450::1"})
    EXPECT_EQ(special_purpose(*core::IpAddress::parse(s)), nullptr) << s;
}

TEST(SpecialPurpose, IPv4MappedIsSpecialAsAnIpv6AddressEvenForAPublicIpv4) {
  EXPECT_NE(special_purpose(*core::IpAddress::parse("::ffff:8.8.8.8")), nullptr);
  EXPECT_EQ(special_purpose(core::IpAddress::parse("::ffff:8.8.8.8")->unmapped()), nullptr);
}

TEST(SpecialPurpose, AnEmptyAddressIsNeverATarget) {
  const SpecialRange* r = special_purpose(core::IpAddress{});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->name, "No address");
}

}  // namespace
}  // namespace overflowd::guard
