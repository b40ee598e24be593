// core::append_base64 against RFC 4648's test vectors and, for every length up to 1,100 bytes of
// random data, against libsodium's encoder (sodium_bin2base64, the standard alphabet with padding)
// and core::from_base64.
#include <gtest/gtest.h>
#include <sodium.h>

#include <random>
#include <string>
#include <vector>

#include "core/encoding.hpp"

namespace {

using overflowd::core::append_base64;
using overflowd::core::from_base64;

std::string encode(std::string_view text) {
  std::string out;
  append_base64(out, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  return out;
}

TEST(Base64, EncodesTheRfc4648TestVectors) {  // RFC 4648 section 10
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foob"), "Zm9vYg==");
  EXPECT_EQ(encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, AppendsAfterWhatTheStringHolds) {
  std::string out = "prefix:";
  const std::uint8_t bytes[] = {0xfb, 0xff, 0xbf};
  append_base64(out, bytes);
  EXPECT_EQ(out, "prefix:+/+/");
}

TEST(Base64, MatchesLibsodiumAndRoundTripsForEveryLengthUpTo1100) {
  ASSERT_GE(sodium_init(), 0);
  std::mt19937 rng(20240601);
  for (std::size_t n = 0; n <= 1100; ++n) {
    std::vector<std::uint8_t> bytes(n);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    std::string reference(sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(reference.data(), reference.size(), bytes.data(), n, sodium_base64_VARIANT_ORIGINAL);
    reference.pop_back();  // the terminating NUL
    std::string ours;
    append_base64(ours, bytes);
    ASSERT_EQ(ours, reference) << "length " << n;
    const auto back = from_base64(ours);
    ASSERT_TRUE(back.has_value()) << "length " << n;
    ASSERT_EQ(*back, bytes) << "length " << n;
  }
}

}  // namespace
