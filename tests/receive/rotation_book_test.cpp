// Rotation statements taken as datagrams of their own (receive/rotation_book.hpp, docs/manual.md
// "Rotation over UDP"): a verified statement gives the new key's reports that carry no
// metadata.rotation the claim they would have carried; a forged one (signed by the new key only)
// is not kept; the book is bounded.
#include "receive/rotation_book.hpp"

#include <gtest/gtest.h>

#include "core/encoding.hpp"
#include "receive/ingest.hpp"
#include "receive_test_util.hpp"
#include "report/document.hpp"

namespace overflowd::receive {
namespace {

using testing::key;
using testing::kNow;
using testing::signed_report;

TEST(RotationBook, AValidStatementGivesTheNewKeysReportsTheClaim) {
  const auto old_keys = key(1), new_keys = key(2);
  const std::string statement = report::build_rotation(old_keys, new_keys, 1'750'000'000);
  ASSERT_TRUE(RotationBook::looks_like_statement(statement));
  RotationBook book;
  SkewPolicy skew;
  skew.rotations = &book;
  const auto report = signed_report(new_keys, "noc@example.net", "Example Net");
  // Before the statement: no claim.
  auto before = ingest(report.compact(), kNow, skew);
  ASSERT_TRUE(std::holds_alternative<Accepted>(before));
  EXPECT_EQ(std::get<Accepted>(before).rotation, Accepted::RotationClaim::none);
  ASSERT_TRUE(book.take(report::as_bytes(statement)));
  for (const auto& raw : {std::string(report.compact()), report.line}) {
    for (const auto& v : {ingest(raw, kNow, skew), ingest_reference(raw, kNow, skew)}) {
      ASSERT_TRUE(std::holds_alternative<Accepted>(v));
      const auto& a = std::get<Accepted>(v);
      EXPECT_EQ(a.rotation, Accepted::RotationClaim::valid);
      EXPECT_EQ(a.rotated_from, old_keys.public_key);
      EXPECT_EQ(a.rotation_time, 1'750'000'000);
    }
  }
  // Another key's reports get nothing.
  const auto other = signed_report(key(3), "noc@example.net", "Example Net");
  EXPECT_EQ(std::get<Accepted>(ingest(other.compact(), kNow, skew)).rotation, Accepted::RotationClaim::none);
}

TEST(RotationBook, AForgedStatementIsNotKept) {
  const auto old_keys = key(1), new_keys = key(2);
  // Both signature blocks by the new key, claiming the old one.
  auto forged = nlohmann::json::parse(report::build_rotation(new_keys, new_keys, 1'750'000'000));
  forged["rotate"]["old"] = core::to_hex(old_keys.public_key);
  RotationBook book;
  EXPECT_FALSE(book.take(report::as_bytes(forged.dump())));
  EXPECT_FALSE(book.take(report::as_bytes(std::string_view("{\"rotate\":1}"))));
  EXPECT_EQ(book.size(), 0u);
  EXPECT_FALSE(book.find(new_keys.public_key));
  EXPECT_FALSE(RotationBook::looks_like_statement(signed_report(new_keys, "a", "b").compact()));
}

TEST(RotationBook, IsBoundedOldestOut) {
  RotationBook book(2);
  for (std::uint8_t n = 10; n < 13; ++n) book.add(report::Rotation{key(1).public_key, key(n).public_key, n});
  EXPECT_EQ(book.size(), 2u);
  EXPECT_FALSE(book.find(key(10).public_key));
  EXPECT_TRUE(book.find(key(12).public_key));
}

}  // namespace
}  // namespace overflowd::receive
