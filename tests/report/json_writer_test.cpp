// The canonical JSON writer against RFC 8785 (JCS): numbers as ECMAScript's
// Number.prototype.toString (section 3.2.2.3, with the IEEE 754 test values of Appendix B), strings
// with the minimal escaping of section 3.2.2.2, and the UTF-8 check (Unicode Table 3-7).
#include "report/json_writer.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

namespace {

namespace json = overflowd::report::json;

std::string dbl(double v) {
  std::string s;
  json::append_double(s, v);
  return s;
}

std::string str(std::string_view v) {
  std::string s;
  json::append_string(s, v);
  return s;
}

// ---- numbers ----

TEST(JsonDouble, KnownEcmaScriptOutputs) {
  EXPECT_EQ(dbl(1e21), "1e+21");
  EXPECT_EQ(dbl(1e-7), "1e-7");
  EXPECT_EQ(dbl(0.000001), "0.000001");
  EXPECT_EQ(dbl(123456789012345680000.0), "123456789012345680000");
  EXPECT_EQ(dbl(4.5), "4.5");
  EXPECT_EQ(dbl(0.1), "0.1");
  EXPECT_EQ(dbl(1763850000.123456), "1763850000.123456");
  EXPECT_EQ(dbl(-0.0), "0");
  EXPECT_EQ(dbl(0.0), "0");
  EXPECT_EQ(dbl(5e-324), "5e-324");
  EXPECT_EQ(dbl(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(dbl(1e20), "100000000000000000000");
  EXPECT_EQ(dbl(1.5e-7), "1.5e-7");
  EXPECT_EQ(dbl(-1.5), "-1.5");
  EXPECT_EQ(dbl(1.0), "1");
  EXPECT_EQ(dbl(100.0), "100");
  EXPECT_EQ(dbl(123.456), "123.456");
  EXPECT_EQ(dbl(1.2345e21), "1.2345e+21");
  EXPECT_EQ(dbl(1e-6 * 1.5), "0.0000015");
}

// RFC 8785 Appendix B: IEEE 754 bit patterns and the JSON text they must produce.
TEST(JsonDouble, Rfc8785AppendixB) {
  struct Case {
    std::uint64_t bits;
    std::string_view text;
  };
  const Case cases[] = {
      {0x0000000000000000, "0"},
      {0x8000000000000000, "0"},
      {0x0000000000000001, "5e-324"},
      {0x8000000000000001, "-5e-324"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0xffefffffffffffff, "-1.7976931348623157e+308"},
      {0x4340000000000000, "9007199254740992"},
      {0xc340000000000000, "-9007199254740992"},
      {0x4430000000000000, "295147905179352830000"},
      {0x44b52d02c7e14af5, "9.999999999999997e+22"},
      {0x44b52d02c7e14af6, "1e+23"},
      {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
      {0x444b1ae4d6e2ef4e, "999999999999999700000"},
      {0x444b1ae4d6e2ef4f, "999999999999999900000"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x41b3de4355555553, "333333333.3333332"},
      {0x41b3de4355555554, "333333333.33333325"},
      {0x41b3de4355555555, "333333333.3333333"},
      {0x41b3de4355555556, "333333333.3333334"},
      {0x41b3de4355555557, "333333333.33333343"},
      {0xbecbf647612f3696, "-0.0000033333333333333333"},
      {0x43143ff3c1cb0959, "1424953923781206.2"},
  };
  for (const auto& c : cases) EXPECT_EQ(dbl(std::bit_cast<double>(c.bits)), c.text) << std::hex << c.bits;
}

// Over many doubles of every magnitude: the text reads back as the same double, and uses the
// exponent form exactly outside [1e-6, 1e21) (ECMAScript's layout rules).
TEST(JsonDouble, RoundTripsAndUsesExponentOnlyOutsideTheFixedRange) {
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 200'000; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const double v = std::bit_cast<double>(state);
    if (!std::isfinite(v)) continue;
    const std::string s = dbl(v);
    ASSERT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
    const double a = std::fabs(v);
    const bool exponent = s.find('e') != std::string::npos;
    ASSERT_EQ(exponent, a != 0 && (a < 1e-6 || a >= 1e21)) << s;
    ASSERT_EQ(s.find("e+0"), std::string::npos) << s;
    ASSERT_EQ(s.find("e-0"), std::string::npos) << s;
    ASSERT_NE(s.back(), '.') << s;
  }
}

TEST(JsonDouble, NonFiniteBecomesNull) {
  EXPECT_EQ(dbl(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(dbl(std::numeric_limits<double>::quiet_NaN()), "null");
}

TEST(JsonInteger, Extremes) {
  std::string s;
  json::append_uint(s, 0);
  s += ',';
  json::append_uint(s, UINT64_MAX);
  s += ',';
  json::append_int(s, INT64_MIN);
  s += ',';
  json::append_int(s, -1);
  EXPECT_EQ(s, "0,18446744073709551615,-9223372036854775808,-1");
}

// ---- strings: RFC 8785 section 3.2.2.2 ----

TEST(JsonString, ControlCharactersAreEscapedAsRfc8785Says) {
  // U+0000..U+001F: \b \t \n \f \r as short escapes, every other one as \u00xx in lower case.
  const char* const want[32] = {"\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006",
                                "\\u0007", "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",
                                "\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014",
                                "\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019", "\\u001a", "\\u001b",
                                "\\u001c", "\\u001d", "\\u001e", "\\u001f"};
  for (int c = 0; c < 32; ++c) {
    const char ch = static_cast<char>(c);
    EXPECT_EQ(str(std::string_view(&ch, 1)), std::string("\"") + want[c] + "\"") << c;
  }
}

TEST(JsonString, QuoteAndBackslashAreEscaped) {
  EXPECT_EQ(str("a\"b\\c"), R"("a\"b\\c")");
}

TEST(JsonString, SlashDeleteAndNonAsciiAreNotEscaped) {
  EXPECT_EQ(str("a/b"), "\"a/b\"");
  EXPECT_EQ(str("\x7f"), "\"\x7f\"");
  EXPECT_EQ(str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\"");
  EXPECT_EQ(str("\xe2\x80\xa8"), "\"\xe2\x80\xa8\"");  // U+2028 is not escaped either
}

TEST(JsonString, PrintableAsciiIsCopied) {
  std::string all;
  for (int c = 0x20; c < 0x7f; ++c)
    if (c != '"' && c != '\\') all.push_back(static_cast<char>(c));
  EXPECT_EQ(str(all), "\"" + all + "\"");
  EXPECT_EQ(str(""), "\"\"");
}

TEST(JsonString, AppendsToWhatIsThere) {
  std::string s = "{\"k\":";
  json::append_string(s, "v");
  EXPECT_EQ(s, "{\"k\":\"v\"");
}

// ---- UTF-8 ----

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

TEST(ValidUtf8, AcceptsWellFormedText) {
  for (const std::string& s : {std::string(""), std::string("plain ASCII"), bytes({0xc2, 0x80}), bytes({0xdf, 0xbf}),
                               bytes({0xe0, 0xa0, 0x80}), bytes({0xed, 0x9f, 0xbf}), bytes({0xee, 0x80, 0x80}),
                               bytes({0xef, 0xbf, 0xbf}), bytes({0xf0, 0x90, 0x80, 0x80}),
                               bytes({0xf4, 0x8f, 0xbf, 0xbf}), std::string("caf\xc3\xa9 \xe2\x82\xac"),
                               std::string(1, '\0')}) {
    EXPECT_TRUE(json::valid_utf8(s)) << ::testing::PrintToString(s);
  }
}

TEST(ValidUtf8, RefusesOverlongForms) {
  for (const std::string& s : {bytes({0xc0, 0x80}), bytes({0xc1, 0xbf}), bytes({0xe0, 0x80, 0x80}),
                               bytes({0xe0, 0x9f, 0xbf}), bytes({0xf0, 0x80, 0x80, 0x80}),
                               bytes({0xf0, 0x8f, 0xbf, 0xbf})}) {
    EXPECT_FALSE(json::valid_utf8(s)) << ::testing::PrintToString(s);
  }
}

TEST(ValidUtf8, RefusesSurrogates) {
  for (const std::string& s : {bytes({0xed, 0xa0, 0x80}), bytes({0xed, 0xbf, 0xbf}),
                               bytes({0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9})}) {  // a CESU-8 pair
    EXPECT_FALSE(json::valid_utf8(s)) << ::testing::PrintToString(s);
  }
}

TEST(ValidUtf8, RefusesCodePointsAboveU10FFFF) {
  for (const std::string& s : {bytes({0xf4, 0x90, 0x80, 0x80}), bytes({0xf5, 0x80, 0x80, 0x80}),
                               bytes({0xf7, 0xbf, 0xbf, 0xbf}), bytes({0xf8, 0x88, 0x80, 0x80, 0x80}),
                               bytes({0xfc, 0x84, 0x80, 0x80, 0x80, 0x80}), bytes({0xfe}), bytes({0xff})}) {
    EXPECT_FALSE(json::valid_utf8(s)) << ::testing::PrintToString(s);
  }
}

TEST(ValidUtf8, RefusesTruncatedAndBrokenSequences) {
  for (const std::string& s : {bytes({0xc3}), bytes({0xe2, 0x82}), bytes({0xf0, 0x9d, 0x84}), std::string("abc\xe2\x82"),
                               bytes({0x80}), bytes({0xbf}), bytes({0xc3, 0x28}), bytes({0xe2, 0x28, 0xa1}),
                               bytes({0xe2, 0x82, 0x28}), bytes({0xf0, 0x9d, 0x84, 0x28}),
                               std::string("ok\xc3\xa9\x80")}) {
    EXPECT_FALSE(json::valid_utf8(s)) << ::testing::PrintToString(s);
  }
}

// The well-formed byte sequences of the Unicode Standard, Table 3-7, as ranges per lead byte.
bool table_3_7(const unsigned char* p, std::size_t n) {
  std::size_t i = 0;
  auto in = [](unsigned char b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
  while (i < n) {
    const unsigned char b = p[i];
    std::size_t len;
    unsigned lo2 = 0x80, hi2 = 0xbf;
    if (b <= 0x7f) len = 1;
    else if (in(b, 0xc2, 0xdf)) len = 2;
    else if (b == 0xe0) len = 3, lo2 = 0xa0;
    else if (in(b, 0xe1, 0xec) || in(b, 0xee, 0xef)) len = 3;
    else if (b == 0xed) len = 3, hi2 = 0x9f;
    else if (b == 0xf0) len = 4, lo2 = 0x90;
    else if (in(b, 0xf1, 0xf3)) len = 4;
    else if (b == 0xf4) len = 4, hi2 = 0x8f;
    else return false;
    if (i + len > n) return false;
    if (len > 1 && !in(p[i + 1], lo2, hi2)) return false;
    for (std::size_t j = 2; j < len; ++j)
      if (!in(p[i + j], 0x80, 0xbf)) return false;
    i += len;
  }
  return true;
}

TEST(ValidUtf8, AgreesWithUnicodeTable37OnEveryThreeByteInput) {
  unsigned char buf[3];
  std::size_t disagreements = 0;
  for (unsigned v = 0; v < (1u << 24); ++v) {
    buf[0] = static_cast<unsigned char>(v >> 16);
    buf[1] = static_cast<unsigned char>(v >> 8);
    buf[2] = static_cast<unsigned char>(v);
    const std::string_view s(reinterpret_cast<const char*>(buf), 3);
    if (json::valid_utf8(s) != table_3_7(buf, 3) && ++disagreements < 10) ADD_FAILURE() << std::hex << v;
  }
  EXPECT_EQ(disagreements, 0u);
}

TEST(ValidUtf8, AgreesWithUnicodeTable37OnFourByteSequences) {
  unsigned char buf[4];
  std::size_t disagreements = 0;
  for (unsigned lead = 0xe0; lead <= 0xff; ++lead)
    for (unsigned b1 = 0; b1 < 256; ++b1)
      for (unsigned b2 : {0x00u, 0x7fu, 0x80u, 0x9fu, 0xa0u, 0xbfu, 0xc0u})
        for (unsigned b3 : {0x41u, 0x80u, 0xbfu, 0xc0u}) {
          buf[0] = static_cast<unsigned char>(lead);
          buf[1] = static_cast<unsigned char>(b1);
          buf[2] = static_cast<unsigned char>(b2);
          buf[3] = static_cast<unsigned char>(b3);
          const std::string_view s(reinterpret_cast<const char*>(buf), 4);
          if (json::valid_utf8(s) != table_3_7(buf, 4) && ++disagreements < 10)
            ADD_FAILURE() << std::hex << lead << ' ' << b1 << ' ' << b2 << ' ' << b3;
        }
  EXPECT_EQ(disagreements, 0u);
}

}  // namespace
