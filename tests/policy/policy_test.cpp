// Each matcher of the suspicion policy on hand-built flows, the combining rules, the caps, and
// uRPF-lite; the per-destination volume sketch on a synthetic flood (bounded memory at 1,000,000
// distinct destinations). Pure: no packets, no files.
#include "policy/policy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace overflowd::policy {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }
guard::Cidr cidr(std::string_view s) { return *guard::Cidr::parse(s); }

core::FlowRecord flow(std::string_view src, std::string_view dst, std::uint8_t proto = 6, std::uint16_t sport = 40000,
                      std::uint16_t dport = 80) {
  core::FlowRecord f;
  f.src = ip(src);
  f.dst = ip(dst);
  f.protocol = proto;
  f.sport = sport;
  f.dport = dport;
  f.pcount = 10;
  f.bcount = 10 * 500;
  f.tcp_flags = 0x18;  // PSH ACK
  f.fields = core::kNetflowV5Fields;
  f.exporter = ip("192.0.2.1");
  f.input = 3;
  return f;
}

RuleSpec rule(std::string name, ReasonClass c, double multiplier = 10) {
  RuleSpec r;
  r.name = std::move(name);
  r.reason = c;
  r.multiplier = multiplier;
  return r;
}

std::shared_ptr<const Policy> build(PolicySpec s) {
  auto p = Policy::build(std::move(s));
  EXPECT_TRUE(p) << p.error();
  return p ? *p : nullptr;
}

struct Eval {
  std::shared_ptr<const Policy> policy;
  std::unique_ptr<PolicyState> state;
  Decision d;
  explicit Eval(PolicySpec s) : policy(build(std::move(s))), state(std::make_unique<PolicyState>(*policy)) {}
  const Decision& operator()(const core::FlowRecord& f, std::int64_t now = 0) {
    policy->evaluate(f, *state, now, d);
    return d;
  }
  bool matches(const core::FlowRecord& f) { return (*this)(f).suspicious; }
};

ListSpec list(std::string name, std::vector<guard::Cidr> prefixes) {
  ListSpec l;
  l.name = std::move(name);
  l.prefixes = std::move(prefixes);
  return l;
}

PolicySpec one(RuleSpec r) {
  PolicySpec s;
  s.rules.push_back(std::move(r));
  return s;
}

TEST(PolicyMatch, SourceAndDestinationLists) {
  PolicySpec s;
  s.lists.push_back(list("drop", {cidr("198.51.100.0/24"), cidr("2001:db8:bad::/48")}));
  auto r = rule("drop-src", ReasonClass::listed_source);
  r.src_list = {"drop"};
  s.rules.push_back(r);
  auto r2 = rule("to-victims", ReasonClass::volumetric);
  r2.dst_cidr = {cidr("203.0.113.0/25")};
  s.rules.push_back(r2);
  Eval e(s);
  const auto& d = e(flow("198.51.100.7", "8.8.8.8"));
  ASSERT_TRUE(d.suspicious);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].rule, "drop-src");
  EXPECT_EQ(d.reasons[0].list, "drop");
  EXPECT_EQ(d.reasons[0].reason, ReasonClass::listed_source);
  EXPECT_TRUE(e.matches(flow("2001:db8:bad::1", "2001:db8::2")));
  EXPECT_FALSE(e.matches(flow("198.51.101.7", "8.8.8.8")));
  EXPECT_FALSE(e.matches(flow("8.8.8.8", "198.51.100.7")));  // a source list, not a destination one
  EXPECT_TRUE(e.matches(flow("8.8.8.8", "203.0.113.5")));
  EXPECT_FALSE(e.matches(flow("8.8.8.8", "203.0.113.200")));
  EXPECT_EQ(e(flow("8.8.8.8", "203.0.113.5")).reasons[0].list, "to-victims.dst_cidr");
}

TEST(PolicyMatch, SpecialPurposeRegistry) {
  auto r = rule("special-src", ReasonClass::bogon_source);
  r.src_special = true;
  Eval e(one(r));
  EXPECT_TRUE(e.matches(flow("0.1.2.3", "8.8.8.8")));
  EXPECT_TRUE(e.matches(flow("240.0.0.1", "8.8.8.8")));
  EXPECT_TRUE(e.matches(flow("10.1.1.1", "8.8.8.8")));
  EXPECT_TRUE(e.matches(flow("fe80::1", "2001:4860::1")));
  EXPECT_FALSE(e.matches(flow("8.8.4.4", "8.8.8.8")));
  EXPECT_EQ(e(flow("0.1.2.3", "8.8.8.8")).reasons[0].list, "special-purpose");
  auto not_special = rule("global-src", ReasonClass::bogon_source);
  not_special.src_special = false;
  Eval n(one(not_special));
  EXPECT_TRUE(n.matches(flow("8.8.4.4", "8.8.8.8")));
  EXPECT_FALSE(n.matches(flow("10.1.1.1", "8.8.8.8")));
}

TEST(PolicyMatch, ProtocolAndPortsAndAmplificationSet) {
  auto r = rule("amp-trigger", ReasonClass::reflection_trigger);
  r.protocol = {17};
  for (auto p : amplification_ports()) r.dst_port.push_back({p, p});
  Eval e(one(r));
  for (int p : {53, 123, 1900, 11211, 389, 19, 17, 161, 137, 111, 5353, 3702})
    EXPECT_TRUE(e.matches(flow("8.8.4.4", "8.8.8.8", 17, 40000, static_cast<std::uint16_t>(p)))) << p;
  EXPECT_FALSE(e.matches(flow("8.8.4.4", "8.8.8.8", 17, 40000, 443)));
  EXPECT_FALSE(e.matches(flow("8.8.4.4", "8.8.8.8", 6, 40000, 53)));  // TCP 53
  auto ranged = rule("high", ReasonClass::reflection_response);
  ranged.src_port = {{1000, 2000}};
  Eval e2(one(ranged));
  EXPECT_TRUE(e2.matches(flow("8.8.4.4", "8.8.8.8", 17, 1000, 9)));
  EXPECT_TRUE(e2.matches(flow("8.8.4.4", "8.8.8.8", 6, 2000, 9)));
  EXPECT_FALSE(e2.matches(flow("8.8.4.4", "8.8.8.8", 17, 2001, 9)));
  EXPECT_FALSE(e2.matches(flow("8.8.4.4", "8.8.8.8", 1, 1500, 9)));  // ICMP has no ports
}

TEST(PolicyMatch, TcpFlagsSynWithoutAck) {
  auto r = rule("syn", ReasonClass::syn_flood);
  r.tcp_flags_set = 0x02;
  r.tcp_flags_unset = 0x10;
  Eval e(one(r));
  auto f = flow("8.8.4.4", "8.8.8.8");
  f.tcp_flags = 0x02;
  EXPECT_TRUE(e.matches(f));
  f.tcp_flags = 0x12;  // SYN ACK
  EXPECT_FALSE(e.matches(f));
  f.tcp_flags = 0x02;
  f.protocol = 17;
  EXPECT_FALSE(e.matches(f));
  f.protocol = 6;
  f.fields &= ~core::Field::kTcpFlags;  // unknown flags never match
  EXPECT_FALSE(e.matches(f));
}

TEST(PolicyMatch, BytesPerPacket) {
  auto r = rule("small", ReasonClass::reflection_trigger);
  r.bytes_per_packet_min = 40;
  r.bytes_per_packet_max = 100;
  Eval e(one(r));
  auto f = flow("8.8.4.4", "8.8.8.8");
  f.pcount = 10;
  f.bcount = 600;
  EXPECT_TRUE(e.matches(f));
  f.bcount = 1000;
  EXPECT_TRUE(e.matches(f));
  f.bcount = 1001;
  EXPECT_FALSE(e.matches(f));
  f.bcount = 399;
  EXPECT_FALSE(e.matches(f));
  f.pcount = 0;
  EXPECT_FALSE(e.matches(f));
}

TEST(PolicyMatch, ExporterAndInput) {
  auto r = rule("edge", ReasonClass::listed_source);
  r.exporter = {ip("192.0.2.1")};
  r.input = {3, 7};
  Eval e(one(r));
  auto f = flow("8.8.4.4", "8.8.8.8");
  EXPECT_TRUE(e.matches(f));
  f.input = 4;
  EXPECT_FALSE(e.matches(f));
  f.input = 7;
  f.exporter = ip("192.0.2.2");
  EXPECT_FALSE(e.matches(f));
}

PolicySpec urpf_spec() {
  PolicySpec s;
  s.own_prefixes = {cidr("198.51.100.0/24"), cidr("2001:db8:1::/48")};
  s.interfaces.push_back({ip("192.0.2.1"), 10, InterfaceRole::customer, {cidr("203.0.113.0/25")}});
  s.interfaces.push_back({ip("192.0.2.1"), 1, InterfaceRole::transit, {}});
  s.interfaces.push_back({ip("192.0.2.1"), 2, InterfaceRole::peer, {}});
  auto r = rule("urpf", ReasonClass::spoofed_source, 100);
  r.spoofed = true;
  s.rules.push_back(r);
  return s;
}

TEST(PolicyMatch, UrpfLite) {
  Eval e(urpf_spec());
  auto on = [](std::string_view src, std::uint32_t input, std::string_view exporter = "192.0.2.1") {
    auto f = flow(src, "8.8.8.8");
    f.input = input;
    f.exporter = ip(exporter);
    return f;
  };
  EXPECT_FALSE(e.matches(on("203.0.113.5", 10)));   // customer, allowed
  EXPECT_TRUE(e.matches(on("203.0.113.200", 10)));  // customer, outside its prefixes
  EXPECT_TRUE(e.matches(on("8.8.4.4", 10)));
  EXPECT_TRUE(e.matches(on("198.51.100.9", 1)));    // my own prefix in from transit
  EXPECT_TRUE(e.matches(on("198.51.100.9", 2)));    // ... or from a peer
  EXPECT_FALSE(e.matches(on("8.8.4.4", 1)));        // someone else's prefix from transit: fine
  EXPECT_FALSE(e.matches(on("198.51.100.9", 99)));  // undeclared interface: unknown, not spoofed
  EXPECT_FALSE(e.matches(on("198.51.100.9", 1, "192.0.2.2")));  // another exporter
  auto no_if = on("203.0.113.200", 10);
  no_if.fields &= ~core::Field::kInterfaces;
  EXPECT_FALSE(e.matches(no_if));
  EXPECT_EQ(e.policy->urpf(on("203.0.113.200", 10)), UrpfVerdict::spoofed);
  EXPECT_EQ(e.policy->urpf(on("203.0.113.1", 10)), UrpfVerdict::ok);
}

TEST(PolicyCombine, MaxTakesLargestAndListsEveryReasonFirstStopsAtFirst) {
  PolicySpec s;
  s.max_multiplier = 40;
  auto a = rule("a", ReasonClass::syn_flood, 5);
  a.protocol = {6};
  auto b = rule("b", ReasonClass::listed_source, 1000);  // capped to 40
  b.src_cidr = {cidr("198.51.100.0/24")};
  auto c = rule("c", ReasonClass::reflection_trigger);
  c.probability = 0.3;
  c.multiplier.reset();
  c.dst_cidr = {cidr("203.0.113.0/24")};
  s.rules = {a, b, c};
  Eval e(s);
  const auto f = flow("198.51.100.1", "203.0.113.1");
  const auto& d = e(f);
  ASSERT_EQ(d.reasons.size(), 3u);
  EXPECT_EQ(d.multiplier, 40);
  EXPECT_EQ(d.probability, 0.3);
  EXPECT_DOUBLE_EQ(e.policy->boosted(1e-3, d), 0.3);   // the probability floor wins
  EXPECT_DOUBLE_EQ(e.policy->boosted(0.01, d), 0.4);   // the (capped) multiplier wins
  EXPECT_DOUBLE_EQ(e.policy->boosted(0.5, d), 1.0);
  s.combine = Combine::first;
  Eval first(s);
  const auto& d1 = first(f);
  ASSERT_EQ(d1.reasons.size(), 1u);
  EXPECT_EQ(d1.reasons[0].rule, "a");
  EXPECT_DOUBLE_EQ(first.policy->boosted(1e-3, d1), 5e-3);
  // Nothing matched: the base, untouched.
  const auto& none = e(flow("8.8.4.4", "8.8.8.8", 17));
  EXPECT_FALSE(none.suspicious);
  EXPECT_EQ(e.policy->boosted(1e-3, none), 1e-3);
}

TEST(PolicyCombine, ProbabilityCappedByMaxProbability) {
  PolicySpec s;
  s.max_probability = 0.1;
  auto c = rule("c", ReasonClass::reflection_trigger);
  c.multiplier.reset();
  c.probability = 1.0;
  c.protocol = {17};
  s.rules = {c};
  Eval e(s);
  EXPECT_DOUBLE_EQ(e.policy->boosted(1e-5, e(flow("8.8.4.4", "8.8.8.8", 17))), 0.1);
}

TEST(PolicyBuild, RefusesWhatCannotWork) {
  auto expect_error = [](PolicySpec s, std::string_view needle) {
    auto p = Policy::build(std::move(s));
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find(needle), std::string::npos) << p.error();
  };
  auto r = rule("x", ReasonClass::listed_source);
  expect_error(one(r), "no condition");
  r.src_list = {"missing"};
  expect_error(one(r), "'missing'");
  r.src_list.clear();
  r.protocol = {6};
  r.probability = 0.5;
  expect_error(one(r), "exactly one of multiplier and probability");
  r.probability.reset();
  r.multiplier = 0.5;
  expect_error(one(r), "multiplier");
  r.multiplier = 2;
  r.spoofed = true;
  expect_error(one(r), "urpf");
  r.spoofed.reset();
  PolicySpec two = one(r);
  two.rules.push_back(r);
  expect_error(two, "defined twice");
  PolicySpec many;
  for (int i = 0; i < 70; ++i) many.lists.push_back(list("l" + std::to_string(i), {}));
  many.rules.push_back(r);
  expect_error(many, "more than 64");
  PolicySpec cap = one(r);
  cap.max_multiplier = 0.5;
  expect_error(cap, "max_multiplier");
}

TEST(PolicyVolume, DetectsTheVictimOfAFloodWithinTheWindow) {
  PolicySpec s;
  s.volume.window_s = 10;
  auto r = rule("flood", ReasonClass::volumetric, 20);
  r.dst_pps = 500;  // 5,000 packets in the 10 s window
  s.rules.push_back(r);
  auto by_sources = rule("many-sources", ReasonClass::volumetric, 20);
  by_sources.dst_sources = 500;
  s.rules.push_back(by_sources);
  Eval e(s);
  std::mt19937_64 rng(3);
  const auto victim = ip("203.0.113.80");
  int detected_at = -1, sources_at = -1;
  std::uint64_t false_positives = 0;
  // 5 seconds: 100,000 background flows of 1 packet to random destinations, and a flood of
  // 2,000 one-packet flows per second to the victim from random (spoofed) sources.
  for (int i = 0; i < 110'000; ++i) {
    const std::int64_t now = static_cast<std::int64_t>(i) * 5 * kSecond / 110'000;
    core::FlowRecord f = flow("8.8.4.4", "8.8.8.8");
    f.pcount = 1;
    f.bcount = 60;
    f.src = core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
    if (i % 11 == 0) {
      f.dst = victim;
      const auto& d = e(f, now);
      for (const auto& reason : d.reasons) {
        if (reason.rule == "flood" && detected_at < 0) detected_at = i;
        if (reason.rule == "many-sources" && sources_at < 0) sources_at = i;
      }
    } else {
      f.dst = core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
      false_positives += e(f, now).suspicious;
    }
  }
  // 10,000 packets arrive at 2,000/s: the 5,001st after 2.5 s; the sources rule after 500 sources.
  EXPECT_GT(detected_at, 11 * 4900);
  EXPECT_LT(detected_at, 11 * 5100);
  EXPECT_GT(sources_at, 0);
  EXPECT_LT(sources_at, 11 * 600);
  EXPECT_EQ(false_positives, 0u);
}

TEST(PolicyVolume, OldTrafficLeavesTheWindow) {
  VolumeSketch v({.window_s = 1, .width = 1024, .depth = 4, .pair_bits = 1 << 16});
  const auto a = ip("203.0.113.1"), s = ip("8.8.8.8");
  auto e = v.add(s, a, 1000, 1000, 0);
  EXPECT_GE(e.packets_per_second, 1000);
  e = v.add(s, a, 1, 1, kSecond / 2);
  EXPECT_GE(e.packets_per_second, 1001);
  e = v.add(s, a, 1, 1, 3 * kSecond);  // two windows later: all gone
  EXPECT_LE(e.packets_per_second, 1);
  EXPECT_EQ(e.distinct_sources, 1);
}

TEST(PolicyVolume, BoundedMemoryAtAMillionDestinations) {
  VolumeSketch v(VolumeConfig{});
  const std::size_t before = v.memory_bytes();
  std::mt19937_64 rng(5);
  const auto victim = ip("203.0.113.80");
  VolumeEstimate last{};
  for (int i = 0; i < 1'000'000; ++i) {
    const auto src = core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
    (void)v.add(src, core::IpAddress::v4(static_cast<std::uint32_t>(rng())), 2, 120, i * 1000);
    if (i % 10 == 0) last = v.add(src, victim, 100, 6000, i * 1000);
  }
  EXPECT_EQ(v.memory_bytes(), before);
  EXPECT_LT(before, 8u << 20);
  // Count-min never undercounts: 100,000 flows x 100 packets within one second.
  EXPECT_GE(last.packets_per_second * 10, 1e7);
  // ... and the background (2 packets each) overestimates a random destination only a little.
  const auto other = v.add(ip("8.8.8.8"), ip("192.0.2.44"), 0, 0, 1'000'000'000);
  EXPECT_LT(other.packets_per_second * 10, 2000);
}


// Sampled counting (z = 64): a destination's packets and bytes are estimated without bias, within 4
// standard errors (variance below z x total), from flows of 1 to 200 packets among a background.
TEST(PolicyVolume, SampledCountingIsUnbiased) {
  VolumeSketch v({.window_s = 10, .width = 16384, .depth = 2, .pair_bits = 1 << 16, .sample = 64, .sources = false});
  std::mt19937_64 rng(11);
  const auto victim = ip("203.0.113.80"), src = ip("192.0.2.9");
  std::uint64_t packets = 0, bytes = 0;
  for (int i = 0; i < 400'000; ++i) {
    const std::uint64_t x = 1 + (i % 7 == 0 ? rng() % 200 : rng() % 3);
    if (i % 4 == 0) {
      packets += x;
      bytes += x * 100;
      (void)v.add(src, victim, x, x * 100, i);
    } else {
      (void)v.add(src, core::IpAddress::v4(static_cast<std::uint32_t>(rng())), x, x * 100, i);
    }
  }
  const auto e = v.add(src, victim, 0, 0, 400'000);
  const double se = std::sqrt(64.0 * static_cast<double>(packets));
  EXPECT_NEAR(e.packets_per_second * 10, static_cast<double>(packets), 4 * se + 0.01 * static_cast<double>(packets));
  EXPECT_NEAR(e.bits_per_second * 10 / 8, static_cast<double>(bytes), 100 * (4 * se + 0.01 * static_cast<double>(packets)));
}

// The pipeline's path (observe_batch, then decide per flow) with the sample the policy picks for a
// 20,000 packets/s threshold (z = 20): a flood of one-packet flows is detected within 5 % of the
// time its volume crosses the threshold, and the background never is.
TEST(PolicyVolume, BatchedSampledDetectionOfAFlood) {
  PolicySpec s;
  s.volume.window_s = 10;
  // 1.3 million random background destinations each share both cells with the victim with
  // probability 1 / width^2: at the default 8192 that is a false positive in about 2 % of runs
  // (count-min's own error, seen as a flake); at 65,536, 1 in 3,000.
  s.volume.width = 1 << 16;
  auto r = rule("flood", ReasonClass::volumetric, 20);
  r.dst_pps = 20'000;  // 200,000 packets in the window
  s.rules.push_back(r);
  auto p = build(s);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->spec().volume.sample, 20u);
  EXPECT_FALSE(p->spec().volume.sources);
  EXPECT_NE(p->describe().find("sampled (z = 20 packets)"), std::string::npos) << p->describe();
  PolicyState state(*p);
  std::mt19937_64 rng(7);
  const auto victim = ip("203.0.113.80");
  std::vector<core::FlowRecord> batch(30);
  Decision d;
  std::int64_t detected = -1;
  std::uint64_t false_positives = 0;
  // 8 s: 80,000 one-packet flows/s to the victim (the threshold's 200,000 packets after 2.5 s) and
  // 160,000 flows/s of 1 to 9 packets to random destinations, 30 flows a batch.
  for (int b = 0; b < 8 * 240'000 / 30; ++b) {
    const std::int64_t now = static_cast<std::int64_t>(b) * 30 * kSecond / 240'000;
    for (int i = 0; i < 30; ++i) {
      core::FlowRecord& f = batch[static_cast<std::size_t>(i)];
      f = flow("8.8.4.4", "8.8.8.8");
      f.src = core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
      f.pcount = i % 3 == 0 ? 1 : 1 + rng() % 9;
      f.bcount = f.pcount * 60;
      f.dst = i % 3 == 0 ? victim : core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
    }
    p->observe_batch(batch, state, now);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      p->decide(batch[i], state, d, i);
      if (batch[i].dst == victim) {
        if (d.suspicious && detected < 0) detected = now;
      } else {
        false_positives += d.suspicious;
      }
    }
  }
  EXPECT_GT(detected, 2.5 * 0.95 * kSecond);
  EXPECT_LT(detected, 2.5 * 1.05 * kSecond);
  EXPECT_EQ(false_positives, 0u);
}

// Distinct sources with pairs sampled 1 in k = 8: the estimate is k x the sampled pairs counted,
// within 4 standard errors (sqrt(n x (k - 1))) of the true count when the bitmap is far from full,
// a pair seen again is not counted again, and the packets are not counted at all (no rule reads them).
TEST(PolicyVolume, SampledDistinctSourcesAreUnbiased) {
  VolumeSketch v({.window_s = 10, .width = 16384, .depth = 2, .pair_bits = std::size_t{1} << 24, .sample = 1,
                  .sources = true, .packets = false, .bytes = false, .source_sample = 8});
  std::mt19937_64 rng(13);
  const auto victim = ip("203.0.113.80");
  constexpr int kSources = 20'000;
  for (int i = 0; i < kSources; ++i) {
    const auto src = core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
    (void)v.add(src, victim, 3, 180, i);
    (void)v.add(src, victim, 3, 180, i);  // the same pair again: not a new source
    (void)v.add(src, core::IpAddress::v4(static_cast<std::uint32_t>(rng())), 1, 60, i);  // background
  }
  const auto got = v.add(core::IpAddress{}, victim, 0, 0, kSources);
  const double se = std::sqrt(kSources * 7.0);
  EXPECT_NEAR(got.distinct_sources, kSources, 4 * se);
  EXPECT_EQ(got.packets_per_second, 0);
  EXPECT_EQ(got.bits_per_second, 0);
}

// The undercount's bound (volume.hpp): with B bits of the bitmap set, a new pair is missed with
// probability B / (its bits), and B is at most the sampled distinct pairs, so the estimate is at
// least (1 - N / pair_bits) of the sources for N distinct pairs in the window (the bitmap has
// pair_bits / k bits for 1/k of the pairs). Here a small bitmap, 65,536 / 8 bits, filled by 20,000
// background pairs and 20,000 of the victim's.
TEST(PolicyVolume, DistinctSourcesUndercountStaysWithinItsBound) {
  VolumeSketch v({.window_s = 10, .width = 16384, .depth = 2, .pair_bits = 1 << 16, .sample = 1, .sources = true,
                  .packets = false, .bytes = false, .source_sample = 8});
  std::mt19937_64 rng(17);
  const auto victim = ip("203.0.113.80");
  constexpr int kSources = 20'000;
  for (int i = 0; i < kSources; ++i) {
    (void)v.add(core::IpAddress::v4(static_cast<std::uint32_t>(rng())),
                core::IpAddress::v4(static_cast<std::uint32_t>(rng())), 1, 60, i);
    (void)v.add(core::IpAddress::v4(static_cast<std::uint32_t>(rng())), victim, 1, 60, i);
  }
  const auto got = v.add(core::IpAddress{}, victim, 0, 0, kSources);
  const double se = std::sqrt(kSources * 7.0);
  const double fill_bound = 2.0 * kSources / 65536;  // N / pair_bits
  EXPECT_GE(got.distinct_sources, (1 - fill_bound) * kSources - 4 * se);
  EXPECT_LE(got.distinct_sources, kSources + 4 * se);
  // ... and it does undercount here: the bitmap is a third full or more by the end.
  EXPECT_LT(got.distinct_sources, kSources - 4 * se);
}

// The pipeline's path with the pair sample the policy picks for 20,000 sources (k = 19, 3 %
// standard error at the threshold): a flood from new random sources is detected within 4 standard
// errors of the time its true count crosses the threshold, and the background never is.
TEST(PolicyVolume, BatchedSampledDistinctSourcesDetectAFlood) {
  PolicySpec s;
  s.volume.window_s = 10;
  auto r = rule("many-sources", ReasonClass::volumetric, 20);
  r.dst_sources = 20'000;
  s.rules.push_back(r);
  auto p = build(s);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->spec().volume.source_sample, 19u);
  EXPECT_FALSE(p->spec().volume.packets);
  PolicyState state(*p);
  std::mt19937_64 rng(19);
  const auto victim = ip("203.0.113.80");
  std::vector<core::FlowRecord> batch(30);
  Decision d;
  int detected = -1;
  std::uint64_t false_positives = 0;
  int victim_sources = 0;
  // 10 flows of each batch to the victim from new sources, 20 between random addresses.
  for (int b = 0; b < 4'000 && detected < 0; ++b) {
    for (int i = 0; i < 30; ++i) {
      core::FlowRecord& f = batch[static_cast<std::size_t>(i)];
      f = flow("8.8.4.4", "8.8.8.8");
      f.src = core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
      f.dst = i % 3 == 0 ? victim : core::IpAddress::v4(static_cast<std::uint32_t>(rng()));
    }
    p->observe_batch(batch, state, std::int64_t{b} * 1'000'000);  // b reaches 4,000: an int product overflows
    for (std::size_t i = 0; i < batch.size(); ++i) {
      p->decide(batch[i], state, d, i);
      if (batch[i].dst == victim) {
        if (d.suspicious && detected < 0) detected = victim_sources;
      } else {
        false_positives += d.suspicious;
      }
    }
    victim_sources += 10;
  }
  const double se = std::sqrt(20'000.0 * 18);
  EXPECT_GT(detected, 20'000 - 4 * se);
  EXPECT_LT(detected, 20'000 + 4 * se + 10);  // + the batch counted a call later
  EXPECT_EQ(false_positives, 0u);
}

TEST(PolicyVolume, SketchLimitsAndSources) {
  PolicySpec s;
  auto r = rule("flood", ReasonClass::volumetric, 20);
  r.dst_pps = 1e9;  // x 10 s: past the sketch's 32-bit packet counters
  s.rules.push_back(r);
  auto too_big = Policy::build(s);
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.error().find("4e9"), std::string::npos);
  s.rules[0].dst_pps = 100'000;
  auto sources = rule("many-sources", ReasonClass::volumetric, 20);
  sources.dst_sources = 1000;
  s.rules.push_back(sources);
  auto p = build(s);
  ASSERT_TRUE(p);
  // Packets sampled for the dst_pps rule; pairs sampled 1 in k for the dst_sources rule, k = 1
  // below 1,111 sources (3 % standard error at the threshold).
  EXPECT_EQ(p->spec().volume.sample, 100u);
  EXPECT_TRUE(p->spec().volume.packets);
  EXPECT_TRUE(p->spec().volume.sources);
  EXPECT_EQ(p->spec().volume.source_sample, 1u);
  // Sources alone: packets not counted, and at 10,000 sources 1 pair in 10 (1 + 0.03^2 x 10,000).
  PolicySpec only;
  auto many = rule("many-sources", ReasonClass::volumetric, 20);
  many.dst_sources = 10'000;
  only.rules.push_back(many);
  auto q = build(only);
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->spec().volume.packets);
  EXPECT_EQ(q->spec().volume.source_sample, 10u);
  EXPECT_NE(q->describe().find("pairs sampled 1 in 10"), std::string::npos) << q->describe();
}

}  // namespace
}  // namespace overflowd::policy
