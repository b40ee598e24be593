#include "core/ip_address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using overflowd::core::IpAddress;

IpAddress v6(std::array<std::uint16_t, 8> groups) {
  std::array<std::byte, 16> b{};
  for (std::size_t i = 0; i < 8; ++i) {
    b[2 * i] = static_cast<std::byte>(groups[i] >> 8);
    b[2 * i + 1] = static_cast<std::byte>(groups[i] & 0xff);
  }
  return IpAddress::from_bytes(b);
}

constexpr std::uint32_t quad(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}

// ---- construction ----

TEST(IpAddress, DefaultIsEmpty) {
  const IpAddress a;
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.to_string(), "");
}

TEST(IpAddress, V4FromHostOrderKeepsNetworkOrderBytes) {
  const IpAddress a = IpAddress::v4(quad(122, 166, 90, 143));
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(a.bytes()[0], 122);
  EXPECT_EQ(a.bytes()[3], 143);
  EXPECT_EQ(a.v4_host_order(), quad(122, 166, 90, 143));
}

TEST(IpAddress, AssignV4OverwritesWhatWasThere) {
  // Over an IPv6 address with every byte set: the result must equal the one built from the bytes
  // (no byte of the old address left, the family replaced).
  IpAddress a = v6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff});
  const std::array<std::byte, 4> b{std::byte{198}, std::byte{51}, std::byte{100}, std::byte{7}};
  a.assign_v4(b.data());
  EXPECT_EQ(a, IpAddress::v4(quad(198, 51, 100, 7)));
  EXPECT_EQ(a, IpAddress::from_bytes(b));
  EXPECT_EQ(a.to_string(), "198.51.100.7");
}

TEST(IpAddress, FromBytesTakesFourOrSixteenOnly) {
  const std::array<std::byte, 16> b{};
  EXPECT_TRUE(IpAddress::from_bytes(std::span(b).first(4)).is_v4());
  EXPECT_TRUE(IpAddress::from_bytes(b).is_v6());
  EXPECT_TRUE(IpAddress::from_bytes(std::span(b).first(5)).empty());
  EXPECT_TRUE(IpAddress::from_bytes({}).empty());
}

TEST(IpAddress, SameBytesDifferentFamilyCompareUnequal) {
  const std::array<std::byte, 4> b{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  std::array<std::byte, 16> b16{};
  std::copy(b.begin(), b.end(), b16.begin());
  EXPECT_NE(IpAddress::from_bytes(b), IpAddress::from_bytes(b16));
}

// ---- IPv4 text ----

TEST(IpAddressText, Ipv4DottedQuad) {
  EXPECT_EQ(IpAddress::v4(quad(122, 166, 90, 143)).to_string(), "122.166.90.143");
  EXPECT_EQ(IpAddress::v4(0).to_string(), "0.0.0.0");
  EXPECT_EQ(IpAddress::v4(0xffffffff).to_string(), "255.255.255.255");
  EXPECT_EQ(IpAddress::v4(quad(10, 0, 100, 9)).to_string(), "10.0.100.9");  // no leading zeros
}

// ---- IPv6 text: RFC 5952 ----
//
// Each row is derived by hand from RFC 5952's rules, not from any library:
//   4.1    leading zeros of each 16-bit field are suppressed ("0" stays one digit)
//   4.2.1  "::" shortens as much as possible (the whole run of zero fields)
//   4.2.2  "::" is not used for a single 0 field
//   4.2.3  the longest run is shortened; on equal runs, the first one
//   4.3    hexadecimal digits are lower case
//   5      IPv4-mapped addresses are written ::ffff: followed by the dotted quad
struct Rfc5952Case {
  std::array<std::uint16_t, 8> groups;
  std::string_view text;
  const char* rule;
};

const Rfc5952Case kRfc5952[] = {
    {{0x2001, 0x0db8, 0, 0, 0, 0, 0x0002, 0x0001}, "2001:db8::2:1", "4.1 + 4.2.1"},
    {{0x2001, 0x0db8, 0x0000, 0x0001, 0x0001, 0x0001, 0x0001, 0x0001}, "2001:db8:0:1:1:1:1:1", "4.2.2"},
    {{0x2001, 0x0db8, 0, 0, 0, 0, 0, 0x0001}, "2001:db8::1", "4.2.1"},
    {{0x2001, 0x0000, 0x0000, 0x0001, 0, 0, 0, 0x0001}, "2001:0:0:1::1", "4.2.3 longest"},
    {{0x2001, 0x0db8, 0, 0, 0x0001, 0, 0, 0x0001}, "2001:db8::1:0:0:1", "4.2.3 first of equal runs"},
    {{0, 0, 0x0001, 0, 0, 0, 0, 0x0001}, "0:0:1::1", "4.2.3 longest, not the first"},
    {{0x0001, 0, 0, 0x0001, 0, 0, 0x0001, 0x0001}, "1::1:0:0:1:1", "4.2.3 first of equal runs"},
    {{0x2001, 0x0DB8, 0, 0, 0, 0, 0, 0xAAAA}, "2001:db8::aaaa", "4.3 lower case"},
    {{0xABCD, 0xEF01, 0x2345, 0x6789, 0xABCD, 0xEF01, 0x2345, 0x6789},
     "abcd:ef01:2345:6789:abcd:ef01:2345:6789", "4.3, no zero field"},
    {{0x0001, 0x0020, 0x0300, 0x4000, 0x000a, 0x00b0, 0x0c00, 0xd000}, "1:20:300:4000:a:b0:c00:d000", "4.1"},
    {{0, 0, 0, 0, 0, 0, 0, 0}, "::", "4.2.1 all zero"},
    {{0, 0, 0, 0, 0, 0, 0, 1}, "::1", "4.2.1 leading run"},
    {{1, 0, 0, 0, 0, 0, 0, 0}, "1::", "4.2.1 trailing run"},
    {{0, 0, 1, 1, 1, 1, 1, 1}, "::1:1:1:1:1:1", "4.2.1 leading run of two"},
    {{1, 1, 1, 1, 1, 1, 0, 0}, "1:1:1:1:1:1::", "4.2.1 trailing run of two"},
    {{0, 1, 1, 1, 1, 1, 1, 1}, "0:1:1:1:1:1:1:1", "4.2.2 single leading zero"},
    {{1, 1, 1, 1, 1, 1, 1, 0}, "1:1:1:1:1:1:1:0", "4.2.2 single trailing zero"},
    {{1, 0, 1, 0, 1, 0, 1, 0}, "1:0:1:0:1:0:1:0", "4.2.2 only single zeros"},
    {{0xfe80, 0, 0, 0, 0x0202, 0xb3ff, 0xfe1e, 0x8329}, "fe80::202:b3ff:fe1e:8329", "4.1 + 4.2.1"},
    {{0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff},
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "longest text"},
    {{0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201}, "::ffff:192.0.2.1", "5 IPv4-mapped"},
    {{0, 0, 0, 0, 0, 0xffff, 0, 0}, "::ffff:0.0.0.0", "5 IPv4-mapped"},
    {{0, 0, 0, 0, 0, 0xffff, 0xffff, 0xffff}, "::ffff:255.255.255.255", "5 IPv4-mapped"},
    // Not IPv4-mapped (the 0xffff is in the wrong field, or the prefix is not zero): plain hex.
    {{0, 0, 0, 0, 0xffff, 0, 0xc000, 0x0201}, "::ffff:0:c000:201", "4.2.1, not mapped"},
    {{0, 0, 0, 0, 1, 0xffff, 0xc000, 0x0201}, "::1:ffff:c000:201", "4.2.1, not mapped"},
};

TEST(IpAddressText, Ipv6FollowsRfc5952) {
  for (const auto& c : kRfc5952) {
    const IpAddress a = v6(c.groups);
    EXPECT_EQ(a.to_string(), c.text) << "RFC 5952 " << c.rule;
    char buf[IpAddress::kMaxText];
    const std::size_t n = a.format(buf);
    EXPECT_EQ(std::string_view(buf, n), c.text);
  }
}

TEST(IpAddressText, Ipv6TextParsesBackToTheSameAddress) {
  for (const auto& c : kRfc5952) {
    const auto parsed = IpAddress::parse(c.text);
    ASSERT_TRUE(parsed) << c.text;
    EXPECT_EQ(*parsed, v6(c.groups)) << c.text;
  }
}

// A second, independent reference for many addresses: glibc's inet_ntop follows the same rules
// (RFC 5952 4.2.2 and 4.2.3) except that it writes IPv4-compatible ::a.b.c.d, which is skipped.
TEST(IpAddressText, Ipv6AgreesWithInetNtopOnManyZeroPatterns) {
  std::uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(state >> 33);
  };
  int compared = 0;
  for (int n = 0; n < 20000; ++n) {
    std::array<std::uint16_t, 8> g{};
    for (auto& x : g) {
      const auto pick = next() % 4;
      x = pick < 2 ? 0 : pick == 2 ? static_cast<std::uint16_t>(next() % 16) : static_cast<std::uint16_t>(next());
    }
    const bool ipv4_compatible = g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0 &&
                                 (g[6] != 0 || g[7] > 1);
    if (ipv4_compatible) continue;
    const IpAddress a = v6(g);
    char ref[INET6_ADDRSTRLEN];
    ASSERT_NE(::inet_ntop(AF_INET6, a.bytes().data(), ref, sizeof ref), nullptr);
    EXPECT_EQ(a.to_string(), ref);
    ++compared;
  }
  EXPECT_GT(compared, 19000);
}

// ---- parse ----

TEST(IpAddressParse, AcceptsDottedQuad) {
  const auto a = IpAddress::parse("122.166.90.143");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->v4_host_order(), quad(122, 166, 90, 143));
}

TEST(IpAddressParse, AcceptsIpv6InAnyCaseAndForm) {
  const auto a = IpAddress::parse("2001:DB8:0:0:0:0:2:1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v6());
  EXPECT_EQ(a->to_string(), "2001:db8::2:1");
  const auto any = IpAddress::parse("::");
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->is_v6());
  EXPECT_EQ(*any, v6({0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(IpAddressParse, MappedTextStaysIpv6) {
  const auto a = IpAddress::parse("::ffff:192.0.2.1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v6());
  EXPECT_EQ(a->to_string(), "::ffff:192.0.2.1");
}

TEST(IpAddressParse, AcceptsTheLongestValidText) {
  const std::string_view longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";  // 45 chars
  const auto a = IpAddress::parse(longest);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, v6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff}));
}

TEST(IpAddressParse, RefusesWhatIsNotAnAddress) {
  for (std::string_view bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "abc",
                               "1:2:3:4:5:6:7:8:9", "[::1]", "::1%lo", "2001:db8::1::2", "::ffff:1.2.3",
                               "12345::", "g::1", "1.2.3.4/24"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << "'" << bad << "'";
  }
}

TEST(IpAddressParse, RefusesOverlongText) {
  EXPECT_FALSE(IpAddress::parse(std::string(46, '1')));
  EXPECT_FALSE(IpAddress::parse(std::string(4096, ':')));
}

TEST(IpAddressParse, RefusesTextWithAnEmbeddedNul) {
  // The view's whole content must be the address, not just what comes before a NUL.
  EXPECT_FALSE(IpAddress::parse(std::string_view("1.2.3.4\0junk", 12)));
  EXPECT_FALSE(IpAddress::parse(std::string_view("::1\0", 4)));
}

TEST(IpAddressParse, UsesOnlyTheViewNotWhatFollowsIt) {
  const std::string_view text = "10.0.0.1999";
  const auto a = IpAddress::parse(text.substr(0, 8));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "10.0.0.1");
}

// ---- unmapped ----

TEST(IpAddressUnmapped, MappedBecomesIpv4) {
  const IpAddress mapped = v6({0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201});
  const IpAddress u = mapped.unmapped();
  EXPECT_TRUE(u.is_v4());
  EXPECT_EQ(u, IpAddress::v4(quad(192, 0, 2, 1)));
  EXPECT_EQ(u.to_string(), "192.0.2.1");
}

TEST(IpAddressUnmapped, OtherAddressesAreKept) {
  for (const IpAddress a : {v6({0, 0, 0, 0, 0, 0, 0, 1}), v6({0, 0, 0, 0, 0, 0, 0xc000, 0x0201}),
                            v6({0, 0, 0, 0, 0xffff, 0, 0xc000, 0x0201}), v6({0, 0, 0, 0, 1, 0xffff, 0xc000, 0x0201}),
                            v6({0x2001, 0xdb8, 0, 0, 0, 0xffff, 0xc000, 0x0201}), IpAddress::v4(quad(192, 0, 2, 1)),
                            IpAddress{}}) {
    EXPECT_EQ(a.unmapped(), a) << a.to_string();
  }
}

}  // namespace
