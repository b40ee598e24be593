// The Guard as a pure function of (flow, destination, time): no packets are sent by these tests.
#include "guard/guard.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace overflowd::guard {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

core::FlowRecord flow(std::string_view src, std::string_view dst, std::uint16_t sport = 40000, std::uint16_t dport = 80,
                      std::int64_t stime = 1'700'000'000'000) {
  core::FlowRecord f;
  f.src = ip(src);
  f.dst = ip(dst);
  f.sport = sport;
  f.dport = dport;
  f.protocol = 6;
  f.stime_ms = stime;
  f.etime_ms = stime + 1000;
  f.pcount = 10;
  return f;
}

GuardConfig unlimited() {
  GuardConfig c;
  c.global.reset();
  c.per_destination.reset();
  return c;
}

TEST(Guard, SpecialPurposeDestinationsAreRefusedUnlessAllowed) {
  Guard g(unlimited());
  const auto f = flow("127.1.0.1", "127.2.0.1");
  EXPECT_EQ(g.admit(f, f.dst, 0), Verdict::special_purpose);
  EXPECT_EQ(g.admit(f, ip("10.1.2.3"), 0), Verdict::special_purpose);
  EXPECT_EQ(g.admit(f, ip("fe80::1"), 0), Verdict::special_purpose);
  EXPECT_EQ(g.admit(f, ip("::ffff:1.1.1.1"), 0), Verdict::special_purpose);
  EXPECT_EQ(g.admit(f, ip("1.1.1.1"), 0), Verdict::admitted);  // nothing is sent: a pure decision
  EXPECT_EQ(g.counters().count(Verdict::special_purpose), 4u);

  GuardConfig c = unlimited();
  c.allow.push_back(*Cidr::parse("127.0.0.0/8"));
  Guard allowed(c);
  EXPECT_EQ(allowed.admit(f, f.dst, 0), Verdict::admitted);
  EXPECT_EQ(allowed.admit(f, f.src, 0), Verdict::admitted);
  EXPECT_EQ(allowed.admit(f, ip("10.1.2.3"), 0), Verdict::special_purpose);  // allows only what it names
}

TEST(Guard, DenyAndOptOutBeatTheAllowList) {
  GuardConfig c = unlimited();
  c.allow.push_back(*Cidr::parse("127.0.0.0/8"));
  c.deny.push_back(*Cidr::parse("127.9.0.0/16"));
  c.opt_out.add(*Cidr::parse("127.8.0.0/16"));
  c.deny.push_back(*Cidr::parse("2001:4860::/32"));
  Guard g(c);
  const auto f = flow("127.1.0.1", "127.2.0.1");
  EXPECT_EQ(g.admit(f, ip("127.9.255.255"), 0), Verdict::denied);
  EXPECT_EQ(g.admit(f, ip("127.8.0.0"), 0), Verdict::opted_out);
  EXPECT_EQ(g.admit(f, ip("127.7.255.255"), 0), Verdict::admitted);
  EXPECT_EQ(g.admit(f, ip("2001:4860::8888"), 0), Verdict::denied);
}

TEST(Guard, FlowsOfTheReportPortAreNeverReported) {
  GuardConfig c = unlimited();
  c.report_port = 4444;
  Guard g(c);
  auto f = flow("1.1.1.1", "9.9.9.9", 4444, 53);
  f.protocol = 17;
  EXPECT_EQ(g.admit(f, f.dst, 0), Verdict::report_port);
  f.sport = 53;
  f.dport = 4444;
  EXPECT_EQ(g.admit(f, f.src, 0), Verdict::report_port);
  f.protocol = 6;  // TCP to that port is another matter
  EXPECT_EQ(g.admit(f, f.src, 0), Verdict::admitted);
}

TEST(Guard, AFlowIsNeverSentTwiceToTheSameAddress) {
  Guard g(unlimited());
  const auto f = flow("1.1.1.1", "9.9.9.9");
  EXPECT_EQ(g.admit(f, f.dst, 0), Verdict::admitted);
  EXPECT_EQ(g.admit(f, f.dst, kSecond), Verdict::duplicate);
  EXPECT_EQ(g.admit(f, f.src, kSecond), Verdict::admitted);  // the other endpoint is another address
  auto later = f;
  later.stime_ms += 60'000;
  later.etime_ms += 60'000;
  EXPECT_EQ(g.admit(later, f.dst, kSecond), Verdict::admitted);  // same 5-tuple, another flow
  auto other_port = f;
  other_port.sport = 40001;
  EXPECT_EQ(g.admit(other_port, f.dst, kSecond), Verdict::admitted);
  EXPECT_EQ(g.counters().count(Verdict::duplicate), 1u);
}

TEST(Guard, TheRecentSetIsBoundedAndForgetsTheOldest) {
  GuardConfig c = unlimited();
  c.recent = 3;
  Guard g(c);
  const auto a = flow("1.1.1.1", "9.9.9.9", 1);
  EXPECT_EQ(g.admit(a, a.dst, 0), Verdict::admitted);
  for (std::uint16_t p = 2; p <= 3; ++p) EXPECT_EQ(g.admit(flow("1.1.1.1", "9.9.9.9", p), a.dst, 0), Verdict::admitted);
  EXPECT_EQ(g.admit(a, a.dst, 0), Verdict::duplicate);  // still among the last 3
  EXPECT_EQ(g.admit(flow("1.1.1.1", "9.9.9.9", 4), a.dst, 0), Verdict::admitted);
  EXPECT_EQ(g.admit(a, a.dst, 0), Verdict::admitted);  // pushed out by the fourth
}

TEST(Guard, TheGlobalBudgetAdmitsTheBurstThenTheRate) {
  GuardConfig c = unlimited();
  c.global = Budget{10, 5};
  Guard g(c);
  auto admitted_at = [&](std::int64_t t, int tries, std::uint16_t base) {
    int n = 0;
    for (int i = 0; i < tries; ++i)
      n += g.admit(flow("1.1.1.1", "9.9.9.9", static_cast<std::uint16_t>(base + i)), ip("9.9.9.9"), t) == Verdict::admitted;
    return n;
  };
  EXPECT_EQ(admitted_at(0, 100, 1000), 5);              // the burst
  EXPECT_EQ(admitted_at(kSecond / 2, 100, 2000), 5);    // 0.5 s at 10/s
  EXPECT_EQ(admitted_at(kSecond / 2, 100, 3000), 0);
  EXPECT_EQ(admitted_at(10 * kSecond, 100, 4000), 5);   // refills to the burst, never beyond
  EXPECT_EQ(g.counters().count(Verdict::global_budget), 400u - 15u);
}

TEST(Guard, ThePerDestinationBudgetIsPerAddressAndSparesTheGlobalOne) {
  GuardConfig c = unlimited();
  c.per_destination = Budget{1, 3};
  c.global = Budget{1, 4};
  Guard g(c);
  int to_a = 0;
  for (std::uint16_t p = 1; p <= 10; ++p) to_a += g.admit(flow("1.1.1.1", "9.9.9.9", p), ip("9.9.9.9"), 0) == Verdict::admitted;
  EXPECT_EQ(to_a, 3);
  EXPECT_EQ(g.counters().count(Verdict::per_destination_budget), 7u);
  // Seven refusals by the destination's budget took nothing from the global one: one token is left.
  EXPECT_EQ(g.admit(flow("1.1.1.1", "8.8.4.4"), ip("8.8.4.4"), 0), Verdict::admitted);
  EXPECT_EQ(g.admit(flow("1.1.1.1", "8.8.4.4", 2), ip("8.8.4.4"), 0), Verdict::global_budget);
  // One second later: one more token for 9.9.9.9 (rate 1/s), and one globally.
  EXPECT_EQ(g.admit(flow("1.1.1.1", "9.9.9.9", 50), ip("9.9.9.9"), kSecond), Verdict::admitted);
  EXPECT_EQ(g.admit(flow("1.1.1.1", "9.9.9.9", 51), ip("9.9.9.9"), kSecond), Verdict::per_destination_budget);
}

TEST(Guard, AFullDestinationTableFailsClosedUntilABucketRefills) {
  GuardConfig c = unlimited();
  c.per_destination = Budget{1, 1};
  c.destination_table = Guard::kWays;  // one set
  Guard g(c);
  for (int i = 1; i <= 4; ++i) {
    const auto d = "9.9.9." + std::to_string(i);
    EXPECT_EQ(g.admit(flow("1.1.1.1", d), ip(d), 0), Verdict::admitted) << d;
  }
  EXPECT_EQ(g.admit(flow("1.1.1.1", "9.9.9.5"), ip("9.9.9.5"), 0), Verdict::destination_table_full);
  EXPECT_EQ(g.admit(flow("1.1.1.1", "9.9.9.5"), ip("9.9.9.5"), kSecond), Verdict::admitted);  // a way refilled
  // The evicted destination comes back with a full bucket, which is what it had: no extra token.
  EXPECT_EQ(g.admit(flow("1.1.1.1", "9.9.9.1", 2), ip("9.9.9.1"), kSecond), Verdict::admitted);
  EXPECT_EQ(g.admit(flow("1.1.1.1", "9.9.9.1", 3), ip("9.9.9.1"), kSecond), Verdict::per_destination_budget);
}

TEST(Guard, NoDestinationEverGetsMoreThanItsBudgetUnderTableChurn) {
  GuardConfig c = unlimited();
  const Budget b{2, 3};
  c.per_destination = b;
  c.destination_table = 8;  // far fewer entries than destinations
  Guard g(c);
  std::mt19937_64 rng(7);
  std::map<int, int> sent;
  std::int64_t t = 0;
  for (int i = 0; i < 20000; ++i) {
    t += static_cast<std::int64_t>(rng() % (kSecond / 50));
    const int d = static_cast<int>(rng() % 40);
    const auto addr = "9.9." + std::to_string(d / 256) + "." + std::to_string(1 + d % 250);
    if (g.admit(flow("1.1.1.1", addr, static_cast<std::uint16_t>(i), 80, i), ip(addr), t) == Verdict::admitted) ++sent[d];
  }
  const double seconds = static_cast<double>(t) / kSecond;
  ASSERT_FALSE(sent.empty());
  for (const auto& [d, n] : sent) EXPECT_LE(n, b.burst + b.per_second * seconds) << "destination " << d;
}

TEST(Guard, CountersNameEveryReason) {
  GuardConfig c = unlimited();
  c.global = Budget{1, 1};
  Guard g(c);
  (void)g.admit(flow("1.1.1.1", "9.9.9.9"), ip("9.9.9.9"), 0);
  (void)g.admit(flow("1.1.1.1", "9.9.9.9"), ip("9.9.9.9"), 0);
  (void)g.admit(flow("1.1.1.1", "9.9.9.9", 2), ip("9.9.9.9"), 0);
  (void)g.admit(flow("1.1.1.1", "9.9.9.9"), ip("10.0.0.1"), 0);
  (void)g.admit(flow("1.1.1.1", "9.9.9.9"), core::IpAddress{}, 0);
  std::vector<core::NamedCount> out;
  g.counters().append_to(out);
  const std::vector<core::NamedCount> want = {{"guard.admitted", 1},
                                              {"guard.suppressed.no_address", 1},
                                              {"guard.suppressed.special_purpose", 1},
                                              {"guard.suppressed.duplicate", 1},
                                              {"guard.suppressed.global_budget", 1}};
  EXPECT_EQ(out, want);
  EXPECT_EQ(g.counters().suppressed(), 4u);
}

TEST(TokenBucket, StartsFullAndNeverHoldsMoreThanTheBurst) {
  const Budget b{100, 2};
  TokenBucket t;
  EXPECT_DOUBLE_EQ(t.available(b, 5), 2.0);
  EXPECT_TRUE(t.take(b, 0));
  EXPECT_TRUE(t.take(b, 0));
  EXPECT_FALSE(t.take(b, 0));
  EXPECT_FALSE(t.take(b, kSecond / 200));  // half a token
  EXPECT_TRUE(t.take(b, kSecond / 100));
  EXPECT_DOUBLE_EQ(t.available(b, 100 * kSecond), 2.0);
  EXPECT_FALSE(t.full(b, kSecond / 100));
  EXPECT_TRUE(t.full(b, kSecond));
}

}  // namespace
}  // namespace overflowd::guard
