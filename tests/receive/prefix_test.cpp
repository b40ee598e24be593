#include "receive/prefix.hpp"

#include <gtest/gtest.h>

namespace overflowd::receive {
namespace {

core::IpAddress ip(const char* s) { return *core::IpAddress::parse(s); }

TEST(Cidr, ParsesIPv4AndIPv6PrefixesAndBareAddresses) {
  auto a = Cidr::parse("192.0.2.0/24");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "192.0.2.0/24");
  EXPECT_TRUE(a->contains(ip("192.0.2.255")));
  EXPECT_FALSE(a->contains(ip("192.0.3.0")));
  EXPECT_FALSE(a->contains(ip("::ffff:192.0.2.1"))) << "families are compared as parsed (the receiver unmaps first)";
  auto b = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(b->contains(ip("2001:db9::1")));
  auto c = Cidr::parse("198.51.100.7");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->length, 32);
  EXPECT_TRUE(c->contains(ip("198.51.100.7")));
  EXPECT_FALSE(c->contains(ip("198.51.100.8")));
  auto all = Cidr::parse("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(ip("203.0.113.9")));
  EXPECT_FALSE(all->contains(ip("::1")));
  auto odd = Cidr::parse("10.0.0.128/25");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(ip("10.0.0.200")));
  EXPECT_FALSE(odd->contains(ip("10.0.0.127")));
}

TEST(Cidr, RefusesHostBitsBadLengthsAndNonsense) {
  for (const char* bad : {"192.0.2.1/24", "192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "192.0.2.0/x", "", "/24",
                          "example.net/24", "192.0.2.0/24/1", "2001:db8::1/64"})
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
}

TEST(Cidr, RangesInTheSortableFormBoundThePrefix) {
  auto a = *Cidr::parse("192.0.2.0/23");
  const Key16 lo = low(a), hi = high(a);
  EXPECT_EQ(lo, to_key16(ip("192.0.2.0")));
  EXPECT_EQ(hi, to_key16(ip("192.0.3.255")));
  auto b = *Cidr::parse("2001:db8:8000::/33");
  EXPECT_EQ(low(b), to_key16(ip("2001:db8:8000::")));
  EXPECT_EQ(high(b), to_key16(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_LT(to_key16(ip("255.255.255.255")), to_key16(ip("2001:db8::"))) << "IPv4 sorts in ::ffff:0:0/96";
}

TEST(AggregatePrefix, IsTheSlash24OrSlash48) {
  EXPECT_EQ(aggregate_prefix(ip("192.0.2.77")), "192.0.2.0/24");
  EXPECT_EQ(aggregate_prefix(ip("2001:db8:aaaa:bbbb::1")), "2001:db8:aaaa::/48");
  EXPECT_EQ(aggregate_prefix(core::IpAddress{}), "");
}

}  // namespace
}  // namespace overflowd::receive
