// The simulator against the model's closed forms (issue 19): on a fixed path through k deploying
// ASes, each reports a flood of R packets/s at rate R r (a Poisson process while r x packets x N
// < 1), so the first report comes after an exponential time of mean 1/(k R r) and one from every
// AS after H_k / (R r) on average (the maximum of k exponentials). Means are checked within 4
// standard errors over many runs. Every decision is the project's sample::Sampler's.
#include "sim/simulation.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

using namespace overflowd::sim;

// Source AS 200 -> 1 -> 2 -> ... -> k -> victim AS 100: AS i+1 is AS i's provider, AS k the
// victim's. ASes 1..k deploy.
struct Chain {
  Topology topology;
  std::vector<bool> deploy;
  std::vector<RoutingTree> trees;
  ScenarioConfig config;
};

Chain chain(std::uint32_t k) {
  std::string text = "1|200|-1\n";
  for (std::uint32_t i = 1; i < k; ++i) text += std::to_string(i + 1) + "|" + std::to_string(i) + "|-1\n";
  text += std::to_string(k) + "|100|-1\n";
  auto t = parse_caida(std::as_bytes(std::span(text)));
  EXPECT_TRUE(t);
  Chain c{std::move(*t), {}, {}, {}};
  std::vector<std::uint32_t> list;
  for (std::uint32_t i = 1; i <= k; ++i) list.push_back(i);
  c.deploy = choose_deployment(c.topology, DeploymentKind::list, 0, list, 1);
  c.config.victim = *c.topology.index_of(100);
  c.config.sources = {*c.topology.index_of(200)};
  c.trees.push_back(route_to(c.topology, c.config.victim));
  c.config.flood_pps = 1000;
  c.config.flood_flow_packets = 1;
  c.config.exporter_interval = 1;
  c.config.sampler.rate = 0.01;  // R r = 10 reports/s per AS
  c.config.budget_per_s = 0;
  c.config.duration_s = 1e6;
  c.config.stop_when_known = true;
  c.config.wait_for_full_path = false;
  return c;
}

struct Moments {
  double mean = 0, sd = 0;
  std::size_t missing = 0;
};

template <typename Get>
Moments runs(const Chain& c, ScenarioConfig config, int trials, Get get) {
  double s = 0, s2 = 0;
  Moments m;
  for (int i = 0; i < trials; ++i) {
    config.seed = 1000 + static_cast<std::uint64_t>(i);
    const ScenarioResult r = simulate(c.topology, c.deploy, c.trees, config);
    const std::optional<double> v = get(r);
    if (!v) {
      ++m.missing;
      continue;
    }
    s += *v;
    s2 += *v * *v;
  }
  const double n = trials - static_cast<double>(m.missing);
  m.mean = s / n;
  m.sd = std::sqrt(std::max(0.0, s2 / n - m.mean * m.mean));
  return m;
}

TEST(SimulationModel, FirstReportIsExponentialWithMeanOneOverKRr) {
  constexpr std::uint32_t k = 4;
  const Chain c = chain(k);
  constexpr int kTrials = 1000;
  const Moments m = runs(c, c.config, kTrials, [](const ScenarioResult& r) { return r.first_report; });
  const double mu = 1.0 / (k * 1000 * 0.01);  // 0.025 s
  EXPECT_EQ(m.missing, 0u);
  EXPECT_NEAR(m.mean, mu, 4 * mu / std::sqrt(kTrials));  // an exponential's sd is its mean
  EXPECT_NEAR(m.sd, mu, 0.15 * mu);
}

TEST(SimulationModel, AllKAfterHarmonicNumberOverRr) {
  constexpr std::uint32_t k = 4;
  const Chain c = chain(k);
  constexpr int kTrials = 1000;
  const double rr = 1000 * 0.01;
  double hk = 0, var = 0;
  for (std::uint32_t i = 1; i <= k; ++i) {
    hk += 1.0 / i;
    var += 1.0 / (i * rr * i * rr);
  }
  const Moments m = runs(c, c.config, kTrials, [](const ScenarioResult& r) { return r.all_deployers; });
  EXPECT_EQ(m.missing, 0u);
  EXPECT_NEAR(m.mean, hk / rr, 4 * std::sqrt(var / kTrials));
  // The true origin's neighbour (AS1, the first deploying AS) alone: exponential, mean 1/(R r).
  const Moments o = runs(c, c.config, kTrials, [](const ScenarioResult& r) { return r.all_origins; });
  EXPECT_NEAR(o.mean, 1 / rr, 4 * (1 / rr) / std::sqrt(kTrials));
}

TEST(SimulationModel, ExporterSamplingKeepsTheRatePerAs) {
  // 10-packet flows sampled 1 in 10 by each exporter: p = r x sampled x 10, on average r x 10.
  constexpr std::uint32_t k = 3;
  Chain c = chain(k);
  c.config.flood_flow_packets = 10;
  c.config.exporter_interval = 10;
  c.config.sampler.rate = 0.001;  // R r = 1 report/s per AS
  constexpr int kTrials = 600;
  const Moments m = runs(c, c.config, kTrials, [](const ScenarioResult& r) { return r.first_report; });
  const double mu = 1.0 / (k * 1000 * 0.001);
  EXPECT_NEAR(m.mean, mu, 4 * mu / std::sqrt(kTrials));
}

TEST(SimulationModel, CoherentShareGivesFullPaths) {
  constexpr std::uint32_t k = 4;
  Chain c = chain(k);
  c.config.wait_for_full_path = true;
  constexpr int kTrials = 400;
  const double p = 0.01, rate = 1000;
  for (const double x : {1.0, 0.5}) {
    ScenarioConfig config = c.config;
    config.sampler.coherent_share = x;
    const double xp = x * p, q = (p - xp) / (1 - xp);
    const double full = xp + (1 - xp) * std::pow(q, k);  // a flow reported by all k
    const double mu = 1 / (rate * full);
    const Moments m = runs(c, config, kTrials, [](const ScenarioResult& r) { return r.full_path; });
    SCOPED_TRACE(x);
    EXPECT_EQ(m.missing, 0u);
    EXPECT_NEAR(m.mean, mu, 4 * mu / std::sqrt(kTrials));
  }
  // X = 0: the same flow from all four only with probability p^4 = 1e-8: none in 100 s.
  ScenarioConfig none = c.config;
  none.duration_s = 100;
  none.seed = 5;
  EXPECT_FALSE(simulate(c.topology, c.deploy, c.trees, none).full_path);
}

TEST(SimulationModel, AttackerWhoKnowsTheKeySuppressesOnlyTheCoherentShare) {
  constexpr std::uint32_t k = 4;
  Chain c = chain(k);
  c.config.stop_when_known = false;
  c.config.duration_s = 50;  // 50,000 flows
  c.config.attacker_knows_key = true;
  c.config.sampler.coherent_share = 1.0;
  const ScenarioResult all_coherent = simulate(c.topology, c.deploy, c.trees, c.config);
  EXPECT_GT(all_coherent.flood_flows, 45'000u);
  EXPECT_EQ(all_coherent.victim_flood_reports, 0u);  // X = 1: everything suppressed
  c.config.sampler.coherent_share = 0.5;
  const ScenarioResult half = simulate(c.topology, c.deploy, c.trees, c.config);
  const double p = 0.01, xp = 0.5 * p, q = (p - xp) / (1 - xp);
  const double expected = static_cast<double>(half.flood_flows) * k * q;
  EXPECT_NEAR(static_cast<double>(half.victim_flood_reports), expected, 4 * std::sqrt(expected));
  EXPECT_EQ(half.coherent_reports, 0u);
  // Without the attacker, the full rate p.
  c.config.attacker_knows_key = false;
  const ScenarioResult honest = simulate(c.topology, c.deploy, c.trees, c.config);
  const double full = static_cast<double>(honest.flood_flows) * k * p;
  EXPECT_NEAR(static_cast<double>(honest.victim_flood_reports), full, 4 * std::sqrt(full));
}

TEST(SimulationModel, BudgetCapsReportsPerAs) {
  Chain c = chain(2);
  c.config.stop_when_known = false;
  c.config.duration_s = 20;
  c.config.sampler.rate = 1.0;  // every flow reported: 1000/s per AS
  c.config.budget_per_s = 10;
  c.config.budget_burst = 20;
  const ScenarioResult r = simulate(c.topology, c.deploy, c.trees, c.config);
  ASSERT_EQ(r.ases.size(), 2u);
  for (const AsStats& s : r.ases) {
    EXPECT_LE(s.reports_to_victim, 20u + 10u * 20u);
    EXPECT_GE(s.reports_to_victim, 10u * 20u);
    EXPECT_EQ(s.reports, s.reports_to_victim + s.over_budget);
  }
}

}  // namespace
