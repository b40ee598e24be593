// The Guard's priority for SUSPICIOUS reports (issue 16): a reserved share of the global budget,
// INFORMATIONAL refused first under pressure (counted as global_budget_reserved), and every
// budget, the per-destination one included, holding whatever the class. Pure: nothing is sent.
#include "guard/guard.hpp"

#include <gtest/gtest.h>

namespace overflowd::guard {
namespace {

constexpr std::int64_t kMs = 1'000'000;

core::FlowRecord flow(std::uint32_t src, std::uint32_t dst, std::int64_t stime) {
  core::FlowRecord f;
  f.src = core::IpAddress::v4(src);
  f.dst = core::IpAddress::v4(dst);
  f.sport = 40000;
  f.dport = 80;
  f.protocol = 6;
  f.stime_ms = stime;
  f.etime_ms = stime + 1;
  return f;
}

GuardConfig config(double share) {
  GuardConfig c;
  c.global = Budget{100, 100};
  c.per_destination = Budget{1, 3};
  c.destination_table = 1 << 20;
  c.suspicious_share = share;
  return c;
}

struct Tally {
  std::uint64_t info = 0, suspicious = 0;
};

// `seconds` of traffic: each millisecond `info` INFORMATIONAL reports then `sus` SUSPICIOUS ones,
// each to a new destination (8.0.0.0/8 onwards: global unicast), so only the global budget binds.
Tally flood(Guard& g, int seconds, int info, int sus, int sus_every_ms = 1) {
  Tally t;
  std::uint32_t next = 0x08000001;
  for (std::int64_t ms = 0; ms < seconds * 1000; ++ms) {
    const std::int64_t now = ms * kMs;
    for (int i = 0; i < info; ++i) {
      const auto f = flow(0x0a000001, next++, ms);
      t.info += g.admit(f, f.dst, now, Priority::informational) == Verdict::admitted;
    }
    if (ms % sus_every_ms) continue;
    for (int i = 0; i < sus; ++i) {
      const auto f = flow(0x0a000001, next++, ms);
      t.suspicious += g.admit(f, f.dst, now, Priority::suspicious) == Verdict::admitted;
    }
  }
  return t;
}

TEST(GuardPriority, UnderAFloodOfBothSuspiciousPassFirstAndTheBudgetHolds) {
  Guard g(config(0.25));
  const Tally t = flood(g, 10, 10, 2);
  // The global budget: 100 burst + 100/s x 10 s (less the last refill's fraction).
  EXPECT_LE(t.info + t.suspicious, 1100u);
  EXPECT_GE(t.info + t.suspicious, 1090u);
  // INFORMATIONAL got only what the burst held above the reserve; SUSPICIOUS all the rest.
  EXPECT_LE(t.info, 76u);
  EXPECT_GE(t.suspicious, 1000u);
  EXPECT_GT(g.counters().count(Verdict::global_budget_reserved), 0u);
}

TEST(GuardPriority, FewSuspiciousAllPassAndInformationalTakeTheRest) {
  Guard g(config(0.25));
  const Tally t = flood(g, 10, 10, 1, 100);  // 100 SUSPICIOUS in 10 s, well inside the budget
  EXPECT_EQ(t.suspicious, 100u);
  EXPECT_LE(t.info + t.suspicious, 1100u);
  EXPECT_GE(t.info, 900u);
}

TEST(GuardPriority, WithoutAReserveTheClassesAreEqual) {
  Guard g(config(0));
  const Tally t = flood(g, 10, 10, 2);
  EXPECT_LE(t.info + t.suspicious, 1100u);
  EXPECT_GT(t.info, t.suspicious);  // the earlier in each millisecond take the tokens
  EXPECT_EQ(g.counters().count(Verdict::global_budget_reserved), 0u);
}

TEST(GuardPriority, PerDestinationBudgetHoldsForSuspiciousReports) {
  // A spoofed flood: every report goes to the one forged source.
  Guard g(config(0.25));
  std::uint64_t admitted = 0;
  for (std::int64_t ms = 0; ms < 10'000; ++ms) {
    const auto f = flow(0x08080808, static_cast<std::uint32_t>(0x09000000 + ms), ms);
    admitted += g.admit(f, f.src, ms * kMs, Priority::suspicious) == Verdict::admitted;
  }
  EXPECT_LE(admitted, 3u + 10u);  // burst 3 + 1/s
  EXPECT_GT(g.counters().count(Verdict::per_destination_budget), 9000u);
}

}  // namespace
}  // namespace overflowd::guard
