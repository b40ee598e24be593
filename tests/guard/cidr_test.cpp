#include "guard/cidr.hpp"

#include <gtest/gtest.h>

namespace overflowd::guard {
namespace {

core::IpAddress ip(std::string_view s) {
  auto a = core::IpAddress::parse(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(core::IpAddress{});
}

TEST(Cidr, ParsesIpv4AndIpv6PrefixesAndBareAddresses) {
  auto a = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->network, ip("10.0.0.0"));
  EXPECT_EQ(a->length, 8);
  auto b = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->length, 32);
  auto c = Cidr::parse(" 192.0.2.7 ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->length, 32);
  auto d = Cidr::parse("::1");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->length, 128);
  auto e = Cidr::parse("0.0.0.0/0");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->contains(ip("255.255.255.255")));
  EXPECT_FALSE(e->contains(ip("::")));  // families never mix
}

TEST(Cidr, RefusesMalformedPrefixesWithAReason) {
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0/8",
                          "example.net/24", "10.0.0.0/0008", "10.0.0.1/8", "2001:db8::1/32"}) {
    auto r = Cidr::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_FALSE(r.error().empty());
    }
  }
  auto r = Cidr::parse("10.0.0.1/8");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("10.0.0.0/8"), std::string::npos) << r.error();  // suggests the fix
}

TEST(Cidr, ContainsExactlyItsRangeAtNonOctetLengths) {
  const auto c = *Cidr::parse("100.64.0.0/10");
  EXPECT_TRUE(c.contains(ip("100.64.0.0")));
  EXPECT_TRUE(c.contains(ip("100.127.255.255")));
  EXPECT_FALSE(c.contains(ip("100.63.255.255")));
  EXPECT_FALSE(c.contains(ip("100.128.0.0")));
  EXPECT_EQ(c.last(), ip("100.127.255.255"));
  const auto v6 = *Cidr::parse("2001:10::/28");
  EXPECT_TRUE(v6.contains(ip("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(v6.contains(ip("2001:20::")));
  EXPECT_FALSE(v6.contains(ip("2001:f:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_EQ(v6.last(), ip("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff"));
}

TEST(Cidr, IPv4MappedAddressesAreIpv6) {
  const auto c = *Cidr::parse("10.0.0.0/8");
  EXPECT_FALSE(c.contains(ip("::ffff:10.0.0.1")));
  EXPECT_TRUE(c.contains(ip("::ffff:10.0.0.1").unmapped()));
}

TEST(Cidr, MaskClearsHostBits) {
  EXPECT_EQ(mask(ip("192.0.2.255"), 25), ip("192.0.2.128"));
  EXPECT_EQ(mask(ip("2001:db8:ffff::1"), 33), ip("2001:db8:8000::"));
  EXPECT_EQ(mask(ip("1.2.3.4"), 0), ip("0.0.0.0"));
  EXPECT_EQ(Cidr::of(ip("1.2.3.4"), 200).length, 32);  // clamped
  EXPECT_EQ(Cidr::parse("192.0.2.0/24")->to_string(), "192.0.2.0/24");
}

TEST(CidrSet, MatchesAnyOfManyPrefixesOfMixedLengths) {
  CidrSet set;
  EXPECT_FALSE(set.contains(ip("192.0.2.1")));
  set.add(*Cidr::parse("192.0.2.0/24"));
  set.add(*Cidr::parse("198.51.100.128/25"));
  set.add(*Cidr::parse("203.0.113.9"));
  set.add(*Cidr::parse("2001:db8:1::/48"));
  set.add(*Cidr::parse("192.0.2.0/24"));  // duplicates count once
  EXPECT_EQ(set.size(), 4u);
  EXPECT_TRUE(set.contains(ip("192.0.2.0")));
  EXPECT_TRUE(set.contains(ip("192.0.2.255")));
  EXPECT_FALSE(set.contains(ip("192.0.3.0")));
  EXPECT_TRUE(set.contains(ip("198.51.100.128")));
  EXPECT_FALSE(set.contains(ip("198.51.100.127")));
  EXPECT_TRUE(set.contains(ip("203.0.113.9")));
  EXPECT_FALSE(set.contains(ip("203.0.113.8")));
  EXPECT_TRUE(set.contains(ip("2001:db8:1:ffff::1")));
  EXPECT_FALSE(set.contains(ip("2001:db8:2::")));
  EXPECT_FALSE(set.contains(ip("::ffff:192.0.2.1")));
  EXPECT_FALSE(set.contains(core::IpAddress{}));
}

TEST(CidrSet, ParsesAListFileSkippingCommentsAndNamingTheBadLine) {
  auto set = parse_cidr_list("# opt-out list\n\n192.0.2.0/24   # us\r\n2001:db8::/32\n  \n", "optout.txt");
  ASSERT_TRUE(set) << set.error();
  EXPECT_EQ(set->size(), 2u);
  EXPECT_TRUE(set->contains(ip("2001:db8::5")));
  auto bad = parse_cidr_list("192.0.2.0/24\n\n10.0.0.1/8\n", "optout.txt");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().rfind("optout.txt:3: ", 0), 0u) << bad.error();
}

}  // namespace
}  // namespace overflowd::guard
