#include "core/byte_reader.hpp"

#include <gtest/gtest.h>

#include <array>

namespace {

using overflowd::core::ByteReader;
using overflowd::core::Bytes;

constexpr std::array<std::uint8_t, 16> kData = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                                0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xf0};

Bytes data(std::size_t n = kData.size()) { return std::as_bytes(std::span(kData)).first(n); }

TEST(ByteReader, ReadsBigEndianIntegersInSequence) {
  ByteReader r(data());
  EXPECT_EQ(r.u8(), 0x01u);
  EXPECT_EQ(r.u16(), 0x0203u);
  EXPECT_EQ(r.u32(), 0x04050607u);
  EXPECT_EQ(r.offset(), 7u);
  EXPECT_EQ(r.u64(), 0x08090a0b0c0d0e0full);
  EXPECT_EQ(r.u8(), 0xf0u);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ByteReader, HighBitValuesAreUnsigned) {
  const std::array<std::uint8_t, 8> ff = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
  ByteReader r(std::as_bytes(std::span(ff)));
  EXPECT_EQ(r.u64(), 0xfffffffffffffffeull);
}

TEST(ByteReader, ReadPastTheEndReturnsZeroAndFailsForGood) {
  ByteReader r(data(3));
  EXPECT_EQ(r.u16(), 0x0102u);
  EXPECT_EQ(r.u16(), 0u);  // only one byte left
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.offset(), 3u);  // the cursor moved to the end
  // Sticky: even a read that would have fitted before the failure now fails.
  EXPECT_EQ(r.u8(), 0u);
  EXPECT_FALSE(r.has(0));
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, ExactFitSucceeds) {
  ByteReader r(data(4));
  EXPECT_TRUE(r.has(4));
  EXPECT_FALSE(r.has(5));
  EXPECT_EQ(r.u32(), 0x01020304u);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.has(0));
}

TEST(ByteReader, EmptyInputFailsOnFirstRead) {
  ByteReader r{Bytes{}};
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.u8(), 0u);
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, FailedWideReadConsumesNothingUseful) {
  // A u64 with 7 bytes available must not read a partial value.
  ByteReader r(data(7));
  EXPECT_EQ(r.u64(), 0u);
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, SkipWithinBoundsMovesTheCursor) {
  ByteReader r(data());
  r.skip(15);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.u8(), 0xf0u);
  r.skip(0);
  EXPECT_TRUE(r.ok());
}

TEST(ByteReader, SkipPastTheEndFails) {
  ByteReader r(data(4));
  r.skip(5);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ByteReader, SkipOfHugeCountFailsWithoutOverflow) {
  ByteReader r(data(4));
  r.skip(2);
  r.skip(SIZE_MAX);
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, BytesReturnsTheSpanAndAdvances) {
  ByteReader r(data());
  r.skip(2);
  const Bytes b = r.bytes(3);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(std::to_integer<int>(b[0]), 0x03);
  EXPECT_EQ(std::to_integer<int>(b[2]), 0x05);
  EXPECT_EQ(r.offset(), 5u);
  EXPECT_EQ(r.rest().size(), 11u);
}

TEST(ByteReader, BytesPastTheEndIsEmptyAndFails) {
  ByteReader r(data(4));
  EXPECT_TRUE(r.bytes(5).empty());
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, TakeGivesABoundedSubReaderAndAdvancesTheParent) {
  ByteReader r(data());
  r.skip(1);
  ByteReader sub = r.take(4);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.offset(), 5u);
  EXPECT_EQ(sub.size(), 4u);
  EXPECT_EQ(sub.u32(), 0x02030405u);
  EXPECT_TRUE(sub.ok());
  // The sub-reader cannot read past its own end into the parent's bytes.
  EXPECT_EQ(sub.u8(), 0u);
  EXPECT_FALSE(sub.ok());
  EXPECT_TRUE(r.ok());  // a failing child does not fail the parent
  EXPECT_EQ(r.u8(), 0x06u);
}

TEST(ByteReader, TakePastTheEndFailsBothReaders) {
  ByteReader r(data(4));
  ByteReader sub = r.take(5);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(sub.ok());
  EXPECT_EQ(sub.size(), 0u);
  EXPECT_EQ(sub.u8(), 0u);
}

TEST(ByteReader, TakeFromAFailedReaderGivesAFailedReader) {
  ByteReader r(data());
  r.skip(100);
  ASSERT_FALSE(r.ok());
  ByteReader sub = r.take(0);
  EXPECT_FALSE(sub.ok());
}

TEST(ByteReader, UintNReadsOneToEightBytesBigEndian) {
  ByteReader r(data());
  EXPECT_EQ(r.uint_n(1), 0x01u);
  EXPECT_EQ(r.uint_n(3), 0x020304u);
  EXPECT_EQ(r.uint_n(8), 0x05060708090a0b0cull);
  EXPECT_EQ(r.uint_n(2), 0x0d0eu);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 2u);
}

TEST(ByteReader, UintNZeroLengthFails) {
  ByteReader r(data());
  EXPECT_EQ(r.uint_n(0), 0u);
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, UintNOverEightBytesFails) {
  ByteReader r(data());
  EXPECT_EQ(r.uint_n(9), 0u);
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, UintNPastTheEndFails) {
  ByteReader r(data(3));
  EXPECT_EQ(r.uint_n(4), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

}  // namespace
