// The PostgreSQL store's column arrays (store/pg.hpp, ArrayRows): the bytes bound for
// unnest($N::type[]) are array_send's binary form (PostgreSQL's src/backend/utils/adt/arrayfuncs.c:
// dimensions, a has-null flag, the element type's Oid, each dimension's length and lower bound,
// then each element as a 4-byte length, -1 for NULL, and its type's binary form, all big-endian),
// built here byte by byte. The PostgreSQL integration run (ctest -L postgres) stores through them.
#include "store/pg.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

namespace overflowd::store::pg {
namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string header(std::uint32_t rows, bool has_null, std::uint32_t oid) {
  return be32(1) + be32(has_null ? 1 : 0) + be32(oid) + be32(rows) + be32(1);
}

TEST(PgArrayRows, ColumnsAreArraySendForm) {
  ArrayRows rows({kInt8Oid, kTextOid, kByteaOid, kFloat8Oid});
  const std::array<std::uint8_t, 3> blob{0x00, 0x5c, 0xff};
  rows.bind(1, std::int64_t{-2}).bind(2, "a\"b").bind_blob(3, blob).bind(4, 1.5);
  rows.next_row();
  rows.bind(1, std::int64_t{0x0102030405060708}).bind_null(2);  // 3 and 4 left unbound: NULL
  rows.next_row();
  ASSERT_EQ(rows.rows(), 2u);
  EXPECT_EQ(rows.array(0), header(2, false, 20) + be32(8) + std::string("\xff\xff\xff\xff\xff\xff\xff\xfe", 8) + be32(8) +
                               std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(rows.array(1), header(2, true, 25) + be32(3) + "a\"b" + be32(0xffffffffu));
  EXPECT_EQ(rows.array(2), header(2, true, 17) + be32(3) + std::string("\x00\x5c\xff", 3) + be32(0xffffffffu));
  // 1.5 is 0x3FF8000000000000 in IEEE 754 binary64.
  EXPECT_EQ(rows.array(3), header(2, true, 701) + be32(8) + std::string("\x3f\xf8\x00\x00\x00\x00\x00\x00", 8) +
                               be32(0xffffffffu));
}

TEST(PgArrayRows, ValuesTakeTheirColumnsType) {
  ArrayRows rows({kTextOid, kInt8Oid, kInt4Oid});
  rows.bind(1, std::int64_t{42}).bind(2, "17").bind(3, std::int64_t{-1});
  rows.next_row();
  EXPECT_EQ(rows.array(0), header(1, false, 25) + be32(2) + "42");
  EXPECT_EQ(rows.array(1), header(1, false, 20) + be32(8) + std::string(7, '\0') + "\x11");
  EXPECT_EQ(rows.array(2), header(1, false, 23) + be32(4) + std::string("\xff\xff\xff\xff", 4));
}

TEST(PgArrayRows, TextIsCutAtNulAsStmtBindsIt) {
  ArrayRows rows({kTextOid, kByteaOid});
  rows.bind(1, std::string_view("ab\0cd", 5)).bind(2, std::string_view("ab\0cd", 5));
  rows.next_row();
  EXPECT_EQ(rows.array(0), header(1, false, 25) + be32(2) + "ab");
  EXPECT_EQ(rows.array(1), header(1, false, 17) + be32(5) + std::string("ab\0cd", 5));
}

TEST(PgArrayRows, NoRowsIsAnEmptyArrayAndClearStartsAgain) {
  ArrayRows rows({kTextOid});
  EXPECT_EQ(rows.array(0), be32(0) + be32(0) + be32(25));
  rows.bind(1, "x");
  rows.next_row();
  rows.clear();
  EXPECT_EQ(rows.rows(), 0u);
  EXPECT_EQ(rows.array(0), be32(0) + be32(0) + be32(25));
}

}  // namespace
}  // namespace overflowd::store::pg
