// Pinned peer keys (--peer-keys, report/peer_keys.hpp): the longest prefix holding an address wins
// whatever the file order, IPv4 and IPv6 alike; comments, blank lines and the optional identity
// are read; bad lines are refused by number.
#include "report/peer_keys.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/encoding.hpp"
#include "report/seal.hpp"

namespace overflowd::report {
namespace {

std::string hex_of(std::uint8_t fill) { return std::string(64, "0123456789abcdef"[fill & 15]); }

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

TEST(PeerKeys, TheLongestPrefixWinsWhateverTheOrder) {
  const std::string lines[] = {
      "198.51.0.0/16 " + hex_of(1),
      "198.51.100.0/24 " + hex_of(2) + " " + hex_of(9),
      "198.51.100.7/32 " + hex_of(3),
      "2001:db8::/32 " + hex_of(4),
      "2001:db8:1::/48 " + hex_of(5),
  };
  for (const bool reversed : {false, true}) {
    std::string text = "# pinned\n\n";
    for (std::size_t i = 0; i < std::size(lines); ++i) text += lines[reversed ? std::size(lines) - 1 - i : i] + "\n";
    auto keys = PeerKeys::parse(as_bytes(text));
    ASSERT_TRUE(keys) << keys.error();
    EXPECT_EQ(keys->size(), 5u);
    auto x25519 = [&](std::string_view a) {
      const PeerKey* k = keys->find(ip(a));
      return k ? core::to_hex(k->x25519) : std::string("none");
    };
    EXPECT_EQ(x25519("198.51.100.7"), hex_of(3));
    EXPECT_EQ(x25519("198.51.100.8"), hex_of(2));
    EXPECT_EQ(x25519("198.51.7.1"), hex_of(1));
    EXPECT_EQ(x25519("203.0.113.1"), "none");
    EXPECT_EQ(x25519("2001:db8:1::9"), hex_of(5));
    EXPECT_EQ(x25519("2001:db8:2::9"), hex_of(4));
    const PeerKey* with_identity = keys->find(ip("198.51.100.9"));
    ASSERT_NE(with_identity, nullptr);
    ASSERT_TRUE(with_identity->identity);
    EXPECT_EQ(core::to_hex(*with_identity->identity), hex_of(9));
    EXPECT_FALSE(keys->find(ip("198.51.100.7"))->identity);
  }
}

TEST(PeerKeys, BadLinesAreRefusedByNumber) {
  for (const auto& [text, line] : {std::pair<std::string, std::string>{"198.51.100.0/24 nothex\n", "line 1"},
                                   {"# c\n198.51.100.0/33 " + hex_of(1) + "\n", "line 2"},
                                   {"\n\n198.51.100.0/24\n", "line 3"}}) {
    auto keys = PeerKeys::parse(as_bytes(text));
    ASSERT_FALSE(keys) << text;
    EXPECT_NE(keys.error().find(line), std::string::npos) << keys.error();
  }
}

}  // namespace
}  // namespace overflowd::report
