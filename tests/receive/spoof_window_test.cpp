#include "receive/spoof_window.hpp"

#include <gtest/gtest.h>

namespace overflowd::receive {
namespace {

FlowTuple tuple(const char* s, const char* d, std::uint16_t sport = 1234, std::uint16_t dport = 80, std::uint8_t proto = 6) {
  return FlowTuple{*core::IpAddress::parse(s), *core::IpAddress::parse(d), sport, dport, proto};
}

constexpr std::int64_t kT = 1'700'000'000'000;  // ms

SpoofWindowConfig config() {
  SpoofWindowConfig c;
  c.bucket_ms = 60'000;
  c.buckets = 10;
  c.max_flows = 1000;
  c.tolerance_ms = 30'000;
  return c;
}

TEST(SpoofWindow, AFlowMyExportersSawIsSeen) {
  SpoofWindow w(config());
  w.add(tuple("192.0.2.5", "198.51.100.1"), kT);
  EXPECT_EQ(w.check(tuple("192.0.2.5", "198.51.100.1"), kT - 4000, kT), WindowVerdict::seen);
}

TEST(SpoofWindow, AFlowTheyLackIsNotSeenWhenTheWindowCoversItsTime) {
  SpoofWindow w(config());
  w.add(tuple("192.0.2.5", "198.51.100.1"), kT);
  // Each part of the 5-tuple matters.
  EXPECT_EQ(w.check(tuple("192.0.2.6", "198.51.100.1"), kT - 4000, kT), WindowVerdict::not_seen);
  EXPECT_EQ(w.check(tuple("192.0.2.5", "198.51.100.2"), kT - 4000, kT), WindowVerdict::not_seen);
  EXPECT_EQ(w.check(tuple("192.0.2.5", "198.51.100.1", 1235), kT - 4000, kT), WindowVerdict::not_seen);
  EXPECT_EQ(w.check(tuple("192.0.2.5", "198.51.100.1", 1234, 81), kT - 4000, kT), WindowVerdict::not_seen);
  EXPECT_EQ(w.check(tuple("192.0.2.5", "198.51.100.1", 1234, 80, 17), kT - 4000, kT), WindowVerdict::not_seen);
}

TEST(SpoofWindow, ClocksMayDifferByTheTolerance) {
  SpoofWindow w(config());
  const auto t = tuple("2001:db8::1", "2001:db8:1::2");
  w.add(t, kT);
  w.add(tuple("2001:db8::9", "2001:db8:1::2"), kT + 9 * 60'000);  // widens the covered time (nine buckets on)
  EXPECT_EQ(w.check(t, kT + 20'000, kT + 25'000), WindowVerdict::seen);
  // Far beyond the tolerance (a flow in a later bucket that is covered, but not near kT).
  EXPECT_EQ(w.check(t, kT + 5 * 60'000, kT + 5 * 60'000), WindowVerdict::not_seen);
}

TEST(SpoofWindow, TimeOutsideTheWindowCannotBeJudged) {
  SpoofWindow w(config());
  EXPECT_EQ(w.check(tuple("192.0.2.5", "198.51.100.1"), kT, kT), WindowVerdict::not_covered) << "no exports at all";
  w.add(tuple("192.0.2.5", "198.51.100.1"), kT);
  EXPECT_EQ(w.check(tuple("192.0.2.7", "198.51.100.1"), kT - 3'600'000, kT - 3'600'000), WindowVerdict::not_covered);
  EXPECT_EQ(w.check(tuple("192.0.2.7", "198.51.100.1"), kT + 3'600'000, kT + 3'600'000), WindowVerdict::not_covered);
}

TEST(SpoofWindow, OldBucketsLeaveAsTimeMovesOn) {
  SpoofWindow w(config());
  const auto old = tuple("192.0.2.5", "198.51.100.1");
  w.add(old, kT);
  w.add(tuple("192.0.2.6", "198.51.100.1"), kT + 10 * 60'000);  // ten buckets later: the first goes
  EXPECT_EQ(w.stats().flows, 1u);
  EXPECT_EQ(w.stats().evicted, 1u);
  EXPECT_EQ(w.check(old, kT, kT), WindowVerdict::not_covered);
  w.add(old, kT);  // older than the window now
  EXPECT_EQ(w.stats().too_old, 1u);
  EXPECT_EQ(w.stats().flows, 1u);
}

TEST(SpoofWindow, HoldsAtMostMaxFlows) {
  auto c = config();
  c.max_flows = 100;
  SpoofWindow w(c);
  for (std::uint16_t b = 0; b < 5; ++b)
    for (std::uint16_t i = 0; i < 60; ++i) w.add(tuple("192.0.2.5", "198.51.100.1", i, b), kT + b * 60'000);
  EXPECT_LE(w.stats().flows, 100u);
  EXPECT_GT(w.stats().flows, 0u);
  // The newest flows are the ones kept.
  EXPECT_EQ(w.check(tuple("192.0.2.5", "198.51.100.1", 59, 4), kT + 4 * 60'000, kT + 4 * 60'000), WindowVerdict::seen);
  // Even in one bucket.
  SpoofWindow one(c);
  for (std::uint16_t i = 0; i < 500; ++i) one.add(tuple("192.0.2.5", "198.51.100.1", i), kT);
  EXPECT_EQ(one.stats().flows, 100u);
}

TEST(SpoofWindow, IPv4AndItsMappedFormAreDifferentFromIPv6Lookalikes) {
  SpoofWindow w(config());
  w.add(tuple("192.0.2.5", "198.51.100.1"), kT);
  EXPECT_EQ(w.check(tuple("::ffff:192.0.2.5", "::ffff:198.51.100.1"), kT, kT), WindowVerdict::seen)
      << "a mapped address is the IPv4 address";
  EXPECT_EQ(w.check(tuple("::c000:205", "::c633:6401"), kT, kT), WindowVerdict::not_seen);
}

}  // namespace
}  // namespace overflowd::receive

namespace overflowd::receive {
namespace {

TEST(SpoofWindow, AnyReportedTimeIsJudgedWithoutOverflow) {
  SpoofWindow w(config());
  w.add(tuple("192.0.2.5", "198.51.100.1"), kT);
  const auto t = tuple("192.0.2.5", "198.51.100.1");
  EXPECT_EQ(w.check(t, INT64_MIN, INT64_MAX), WindowVerdict::seen) << "a span over everything contains the flow";
  EXPECT_EQ(w.check(t, INT64_MAX, INT64_MAX), WindowVerdict::not_covered);
  EXPECT_EQ(w.check(t, INT64_MIN, INT64_MIN), WindowVerdict::not_covered);
}

}  // namespace
}  // namespace overflowd::receive

namespace overflowd::receive {
namespace {

// Issue 12 finding 6: the tolerance is exact, not rounded to the window's 60 s buckets.
TEST(SpoofWindow, TheToleranceIsExactNotRoundedToBuckets) {
  auto c = config();
  c.tolerance_ms = 300'000;
  SpoofWindow w(c);
  const auto t = tuple("192.0.2.5", "198.51.100.1");
  w.add(t, kT);
  w.add(tuple("192.0.2.9", "198.51.100.1"), kT + 9 * 60'000);  // the window covers the times below
  EXPECT_EQ(w.check(t, kT + 300'000, kT + 300'000), WindowVerdict::seen) << "300 s apart: within a 300 s tolerance";
  EXPECT_EQ(w.check(t, kT + 300'001, kT + 300'001), WindowVerdict::not_seen) << "a millisecond more is not";
  EXPECT_EQ(w.check(t, kT + 355'000, kT + 356'000), WindowVerdict::not_seen) << "355 s apart passed with 60 s buckets";
  EXPECT_EQ(w.check(t, kT - 300'000 - 2000, kT - 300'000), WindowVerdict::seen);
}

TEST(SpoofWindow, HandsOutWhatItAddedOnceForTheStoreAndTakesItBack) {
  SpoofWindow w(config());
  const auto t = tuple("192.0.2.5", "198.51.100.1");
  w.add(t, kT);
  w.add(t, kT);  // the same flow twice: kept once
  const auto unsaved = w.take_unsaved();
  ASSERT_EQ(unsaved.size(), 1u);
  EXPECT_EQ(unsaved[0].hash, tuple_hash(t));
  EXPECT_EQ(unsaved[0].etime_ms, kT);
  EXPECT_TRUE(w.take_unsaved().empty());
  // A window refilled from what was saved judges the same.
  SpoofWindow restarted(config());
  restarted.restore(unsaved[0]);
  EXPECT_EQ(restarted.check(t, kT - 1000, kT), WindowVerdict::seen);
  EXPECT_TRUE(restarted.take_unsaved().empty());
}

}  // namespace
}  // namespace overflowd::receive
