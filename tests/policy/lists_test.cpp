// The list file formats (plain, Spamhaus DROP/EDROP, Team Cymru bogons) and the prefix table that
// flattens them, against hand-written files and a brute-force reference.
#include "policy/lists.hpp"
#include "policy/prefix_table.hpp"

#include <gtest/gtest.h>

#include <random>

namespace overflowd::policy {
namespace {

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }
guard::Cidr cidr(std::string_view s) { return *guard::Cidr::parse(s); }

TEST(Lists, PlainWithCommentsAndBlankLines) {
  const auto r = parse_list("# my list\n\n10.0.0.0/8  # private\r\n2001:db8::/32\n192.0.2.1\n", "x.txt", ListFormat::plain);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], cidr("10.0.0.0/8"));
  EXPECT_EQ((*r)[1], cidr("2001:db8::/32"));
  EXPECT_EQ((*r)[2], cidr("192.0.2.1/32"));
}

TEST(Lists, SpamhausDropAsPublished) {
  // The layout of https://www.spamhaus.org/drop/drop.txt (header comments start with ';').
  const char* text =
      "; Spamhaus DROP List 2024/01/01 - (c) 2024 The Spamhaus Project SLU\n"
      "; https://www.spamhaus.org/drop/drop.txt\n"
      "; Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\n"
      "; Expires: Mon, 01 Jan 2024 01:00:00 GMT\n"
      "1.10.16.0/20 ; SBL256894\n"
      "1.19.0.0/16 ; SBL434604\n"
      "2a06:e480::/29 ; SBL301771\n";
  const auto r = parse_list(text, "drop.txt", ListFormat::spamhaus);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], cidr("1.10.16.0/20"));
  EXPECT_EQ((*r)[2], cidr("2a06:e480::/29"));
}

TEST(Lists, CymruFullbogonsAsPublished) {
  const char* text = "# last updated 1700000401 (Tue Nov 14 22:20:01 2023 GMT)\n0.0.0.0/8\n10.0.0.0/8\n100.64.0.0/10\n";
  const auto r = parse_list(text, "fullbogons-ipv4.txt", ListFormat::cymru);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->size(), 3u);
}

TEST(Lists, MalformedLineNamesFileAndLineAndNothingIsLoaded) {
  const auto bad = parse_list("10.0.0.0/8\n# ok\n10.0.0.1/8\n", "lists/x.txt", ListFormat::plain);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().rfind("lists/x.txt:3: ", 0), 0u) << bad.error();
  const auto junk = parse_list("1.2.3.0/24 ; SBL1\nnot-a-prefix ; SBL2\n", "drop.txt", ListFormat::spamhaus);
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().rfind("drop.txt:2: ", 0), 0u) << junk.error();
  // A Spamhaus file read as plain says so.
  const auto wrong = parse_list("1.2.3.0/24 ; SBL1\n", "drop.txt", ListFormat::plain);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().find("spamhaus"), std::string::npos) << wrong.error();
  EXPECT_FALSE(parse_list("10.0.0.0/33\n", "x", ListFormat::plain));
  EXPECT_FALSE(parse_list(std::string_view("10.0.0.0/8\0\n", 12), "x", ListFormat::plain));
}

TEST(Lists, FormatNames) {
  for (auto f : {ListFormat::plain, ListFormat::spamhaus, ListFormat::cymru})
    EXPECT_EQ(parse_list_format(to_string(f)), f);
  EXPECT_FALSE(parse_list_format("csv"));
}

TEST(PrefixTable, NestedAndOverlappingSetsAgainstBruteForce) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<guard::Cidr, unsigned>> entries;
  PrefixTable t;
  for (int i = 0; i < 3000; ++i) {
    const auto len = static_cast<std::uint8_t>(8 + rng() % 25);
    const auto c = guard::Cidr::of(core::IpAddress::v4(static_cast<std::uint32_t>(rng())), len);
    const auto set = static_cast<unsigned>(rng() % 5);
    entries.push_back({c, set});
    t.add(c, set);
  }
  for (const char* s : {"2001:db8::/32", "2001:db8:1::/48", "::/0"}) {
    entries.push_back({cidr(s), 6});
    t.add(cidr(s), 6);
  }
  entries.push_back({cidr("0.0.0.0/0"), 7});
  entries.push_back({cidr("255.255.255.255/32"), 8});
  t.add(cidr("0.0.0.0/0"), 7);
  t.add(cidr("255.255.255.255/32"), 8);
  t.build();
  auto reference = [&](const core::IpAddress& a) {
    std::uint64_t m = 0;
    for (const auto& [c, set] : entries)
      if (c.contains(a)) m |= std::uint64_t{1} << set;
    return m;
  };
  for (int i = 0; i < 20000; ++i) {
    core::IpAddress a = core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
    if (i % 3 == 0) a = entries[rng() % 3000].first.network;  // on a boundary
    if (i % 3 == 1) a = entries[rng() % 3000].first.last();
    ASSERT_EQ(t.lookup(a), reference(a)) << a.to_string();
  }
  for (const char* s : {"0.0.0.0", "255.255.255.255", "255.255.255.254", "2001:db8::1", "2001:db8:1::5", "2001:db9::",
                        "::", "ffff::1"})
    EXPECT_EQ(t.lookup(ip(s)), reference(ip(s))) << s;
  EXPECT_EQ(t.lookup(core::IpAddress{}), 0u);
}

TEST(PrefixTable, EmptyTable) {
  PrefixTable t;
  t.build();
  EXPECT_EQ(t.lookup(ip("1.2.3.4")), 0u);
  EXPECT_EQ(t.lookup(ip("::1")), 0u);
}

}  // namespace
}  // namespace overflowd::policy
