// Statistics of the sampler with a suspicion policy: over seeded runs, flows matching each rule
// are kept at the rule's boosted rate and the others at the base rate, within 4 standard errors.
// The reference is the binomial distribution: n flows at probability p keep n x p, with standard
// error sqrt(n p (1 - p)).
#include "policy/policy.hpp"
#include "sample/sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace overflowd::sample {
namespace {

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

core::FlowRecord flow(std::string_view src, std::string_view dst, std::uint8_t proto, std::uint16_t dport,
                      std::uint8_t flags, std::uint64_t pcount) {
  core::FlowRecord f;
  f.src = ip(src);
  f.dst = ip(dst);
  f.protocol = proto;
  f.sport = 40000;
  f.dport = dport;
  f.tcp_flags = flags;
  f.pcount = pcount;
  f.bcount = pcount * 60;
  f.fields = core::kNetflowV5Fields;
  return f;
}

policy::RuleSpec rule(std::string name, policy::ReasonClass c) {
  policy::RuleSpec r;
  r.name = std::move(name);
  r.reason = c;
  return r;
}

TEST(PolicySampling, EachRuleAtItsBoostedRateOthersAtTheBase) {
  policy::PolicySpec spec;
  spec.max_multiplier = 100;
  auto bogon = rule("bogon", policy::ReasonClass::bogon_source);
  bogon.src_cidr = {*guard::Cidr::parse("240.0.0.0/4")};
  bogon.multiplier = 50;
  auto syn = rule("syn", policy::ReasonClass::syn_flood);
  syn.tcp_flags_set = 0x02;
  syn.tcp_flags_unset = 0x10;
  syn.multiplier = 5;
  auto amp = rule("amp", policy::ReasonClass::reflection_trigger);
  amp.protocol = {17};
  amp.dst_port = {{123, 123}};
  amp.probability = 0.2;
  auto huge = rule("huge", policy::ReasonClass::listed_source);
  huge.dst_cidr = {*guard::Cidr::parse("198.51.100.0/24")};
  huge.multiplier = 1e6;  // capped at max_multiplier
  spec.rules = {bogon, syn, amp, huge};
  auto built = policy::Policy::build(spec);
  ASSERT_TRUE(built) << built.error();
  const auto& pol = **built;
  policy::PolicyState state(pol);
  policy::Decision d;

  const double rate = 1e-4;
  struct Case {
    const char* name;
    core::FlowRecord flow;
    double expected_p;
  };
  const Case cases[] = {
      {"base", flow("8.8.4.4", "8.8.8.8", 6, 80, 0x18, 10), 1e-3},
      {"bogon", flow("240.1.2.3", "8.8.8.8", 6, 80, 0x18, 10), 5e-2},
      {"syn", flow("8.8.4.4", "8.8.8.8", 6, 80, 0x02, 10), 5e-3},
      {"amp", flow("8.8.4.4", "8.8.8.8", 17, 123, 0, 10), 0.2},
      {"huge", flow("8.8.4.4", "198.51.100.1", 6, 80, 0x18, 10), 0.1},
  };
  constexpr std::uint64_t kSeeds = 4, kFlows = 100'000;
  for (const Case& c : cases) {
    std::uint64_t kept = 0;
    for (std::uint64_t seed = 1; seed <= kSeeds; ++seed) {
      SamplerConfig cfg;
      cfg.rate = rate;
      cfg.seed = seed * 1000 + static_cast<std::uint64_t>(&c - cases);
      Sampler s(cfg);
      // Half the seeds as the pipeline runs it (draw first, rules only under the ceiling), half
      // evaluating every flow: both must keep at the boosted rate.
      for (std::uint64_t i = 0; i < kFlows; ++i) {
        auto boost = [&](double base) {
          pol.evaluate(c.flow, state, 0, d);
          return pol.boosted(base, d);
        };
        kept += seed % 2 ? s.keep(c.flow, [&](double base) { return pol.ceiling(base); }, boost) : s.keep(c.flow, boost);
      }
    }
    const double n = static_cast<double>(kSeeds * kFlows);
    const double mean = n * c.expected_p;
    const double se = std::sqrt(n * c.expected_p * (1 - c.expected_p));
    EXPECT_LT(std::abs(static_cast<double>(kept) - mean), 4 * se)
        << c.name << ": kept " << kept << ", expected " << mean << " +- " << se;
    pol.evaluate(c.flow, state, 0, d);
    EXPECT_EQ(d.suspicious, std::string_view(c.name) != "base") << c.name;
  }
}

}  // namespace
}  // namespace overflowd::sample
