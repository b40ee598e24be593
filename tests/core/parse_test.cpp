// The one set of number parsers (core/parse.hpp): the whole text or nothing, within bounds.
#include "core/parse.hpp"

#include <gtest/gtest.h>

namespace overflowd::core {
namespace {

TEST(ParseWhole, TakesTheWholeTextWithinItsBounds) {
  EXPECT_EQ(parse_whole<int>("42", 0, 100), 42);
  EXPECT_EQ(parse_whole<std::int64_t>("-5", -10, 10), -5);
  EXPECT_EQ(parse_whole<std::uint16_t>("65535", 0, 65535), 65535);
  for (const char* bad : {"", " 1", "1 ", "1x", "+1", "0x10", "1.0", "101", "-1"})
    EXPECT_FALSE(parse_whole<int>(bad, 0, 100)) << bad;
  EXPECT_FALSE(parse_whole<std::uint16_t>("65536", 0, 65535)) << "out of the type's range";
  EXPECT_FALSE(parse_whole<unsigned>("-1", 0, 10)) << "no sign on an unsigned type";
}

TEST(ParseReal, TakesFiniteNumbersWithinItsBounds) {
  EXPECT_EQ(parse_real("0.5", 0, 1), 0.5);
  EXPECT_EQ(parse_real("1e-5", 0, 1), 1e-5);
  EXPECT_EQ(parse_real("30", 0, 36500), 30.0);
  for (const char* bad : {"", "nan", "inf", "1e999", "0.5x", " 0.5", "2", "-0.1"})
    EXPECT_FALSE(parse_real(bad, 0, 1)) << bad;
}

TEST(ParseSize, TakesBytesOrABinarySuffix) {
  EXPECT_EQ(parse_size("65536", 1, 1ull << 30), 65536u);
  EXPECT_EQ(parse_size("64K", 1, 1ull << 30), 64u << 10);
  EXPECT_EQ(parse_size("32m", 1, 1ull << 30), 32u << 20);
  EXPECT_EQ(parse_size("1G", 1, 1ull << 30), 1u << 30);
  for (const char* bad : {"", "K", "2G", "1.5M", "12T", "-1K", "63k"})
    EXPECT_FALSE(parse_size(bad, 64u << 10, 1ull << 30)) << bad;
}

}  // namespace
}  // namespace overflowd::core
