#include "sim/simulation.hpp"

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>

namespace overflowd::sim {

std::vector<bool> choose_deployment(const Topology& t, DeploymentKind kind, double share,
                                    const std::vector<std::uint32_t>& list, std::uint64_t seed) {
  const auto n = static_cast<std::uint32_t>(t.size());
  std::vector<bool> deploy(n, false);
  if (kind == DeploymentKind::list) {
    for (const std::uint32_t asn : list)
      if (const auto i = t.index_of(asn)) deploy[*i] = true;
    return deploy;
  }
  const auto count = static_cast<std::uint32_t>(std::clamp(share, 0.0, 1.0) * n + 0.5);
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  if (kind == DeploymentKind::random) {
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
  } else {
    // Highest first; ties to the lowest ASN (index), so a deployment repeats.
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      if (kind == DeploymentKind::transit_first && t.customers(a).size() != t.customers(b).size())
        return t.customers(a).size() > t.customers(b).size();
      return t.degree(a) > t.degree(b);
    });
  }
  for (std::uint32_t i = 0; i < count; ++i) deploy[order[i]] = true;
  return deploy;
}

namespace {

constexpr std::int64_t kEpochMs = 1'700'000'000'000;  // the simulated clock's zero, as flow times

std::uint64_t mix(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (i + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Budget {
  double tokens = 0;
  double last = 0;
  bool started = false;
};

// A flood source: its path to the victim and the deploying ASes on it, in order from the source.
struct SourcePath {
  std::vector<std::uint32_t> deployers;
  bool known_origin = false;
};

}  // namespace

ScenarioResult simulate(const Topology& t, const std::vector<bool>& deploy, const std::vector<RoutingTree>& trees,
                        const ScenarioConfig& c) {
  ScenarioResult res;
  const auto n = static_cast<std::uint32_t>(t.size());
  std::mt19937_64 rng(c.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const RoutingTree& victim_tree = trees.at(0);

  // The flood's sources and the deploying ASes on their paths.
  std::vector<SourcePath> sources(c.sources.size());
  std::vector<bool> on_paths(n, false);
  for (std::size_t s = 0; s < c.sources.size(); ++s) {
    for (const std::uint32_t a : victim_tree.path(c.sources[s]))
      if (deploy[a]) sources[s].deployers.push_back(a);
    for (const std::uint32_t a : sources[s].deployers) {
      if (!on_paths[a]) ++res.deployers_on_paths;
      on_paths[a] = true;
    }
  }
  // A source listed twice is one origin to find.
  std::vector<std::size_t> origin_of(c.sources.size());
  {
    std::vector<std::size_t> first_slot(n, SIZE_MAX);
    for (std::size_t s = 0; s < c.sources.size(); ++s) {
      auto& slot = first_slot[c.sources[s]];
      if (slot == SIZE_MAX) {
        slot = s;
        if (!sources[s].deployers.empty()) ++res.sources_with_deployer;
        if (sources[s].deployers.size() >= 2) ++res.sources_with_path;
      }
      origin_of[s] = slot;
    }
  }

  std::vector<std::unique_ptr<sample::Sampler>> samplers(n);
  std::vector<AsStats> stats(n);
  std::vector<Budget> budget(n);
  std::size_t deployers_heard = 0, origins_known = 0;

  const double flood_flow_rate = c.sources.empty() || c.flood_flow_packets == 0
                                     ? 0.0
                                     : c.flood_pps / static_cast<double>(c.flood_flow_packets);
  const double background_rate = c.background_destinations.empty() ? 0.0 : c.background_flows_per_s;
  const double total_rate = flood_flow_rate + background_rate;
  if (total_rate <= 0) return res;
  std::exponential_distribution<double> gap(total_rate);
  const std::uint32_t interval = std::max<std::uint32_t>(c.exporter_interval, 1);
  std::binomial_distribution<std::uint32_t> flood_sampled(c.flood_flow_packets, 1.0 / interval);
  std::geometric_distribution<std::uint32_t> background_packets(
      1.0 / std::max(1.0, c.background_flow_packets));
  const core::IpAddress victim_address = core::IpAddress::v4(0x0b000000u | (c.victim & 0xffffffu));
  const double xp_bound =
      c.sampler.coherent_share *
      std::min(1.0, c.sampler.rate * static_cast<double>(c.flood_flow_packets) * interval);

  auto sampler_of = [&](std::uint32_t a) -> sample::Sampler& {
    if (!samplers[a]) {
      sample::SamplerConfig sc = c.sampler;
      sc.seed = mix(c.seed, a);
      samplers[a] = std::make_unique<sample::Sampler>(sc);
    }
    return *samplers[a];
  };
  auto within_budget = [&](std::uint32_t a, double now) {
    if (c.budget_per_s <= 0) return true;
    Budget& b = budget[a];
    if (!b.started) {
      b = {c.budget_burst, now, true};
    } else {
      b.tokens = std::min(c.budget_burst, b.tokens + (now - b.last) * c.budget_per_s);
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  };
  auto all_known = [&] {
    return res.first_report && (res.deployers_on_paths == 0 || res.all_deployers) &&
           (res.sources_with_deployer == 0 || res.all_origins) && (!c.wait_for_full_path || res.sources_with_path == 0 || res.full_path);
  };

  core::FlowRecord rec;
  rec.fields = core::Field::kSrcAddr | core::Field::kDstAddr | core::Field::kPorts | core::Field::kProtocol |
               core::Field::kPackets | core::Field::kTimes;
  rec.protocol = 17;
  rec.sampling_interval = interval;
  double now = 0;
  while (res.flows < c.max_flows) {
    now += gap(rng);
    if (now > c.duration_s) break;
    ++res.flows;
    rec.stime_ms = rec.etime_ms = kEpochMs + static_cast<std::int64_t>(now * 1000);
    rec.sport = static_cast<std::uint16_t>(1024 + rng() % 64000);
    const bool flood = unit(rng) * total_rate < flood_flow_rate;
    if (flood) {
      ++res.flood_flows;
      const auto s = static_cast<std::size_t>(rng() % c.sources.size());
      const std::uint32_t src_as = c.sources[s];
      auto draw_source = [&] {
        rec.src = c.spoofed ? core::IpAddress::v4(static_cast<std::uint32_t>(rng()))
                            : core::IpAddress::v4(0x0c000000u | ((src_as & 0xffffu) << 8) | (rng() & 0xffu));
      };
      draw_source();
      rec.dst = victim_address;
      rec.dport = 53;
      if (c.attacker_knows_key && xp_bound > 0) {
        // The informed attacker hashes 5-tuples until one the coherent draw cannot pick (needs
        // hash >= X p for the largest p any AS on the path can have); at X p = 1 there is none.
        const auto threshold = xp_bound >= 1 ? UINT64_MAX : static_cast<std::uint64_t>(xp_bound * 0x1p64);
        for (int tries = 0; tries < 1000; ++tries) {
          ++res.attacker_tries;
          if (sample::Sampler::coherent_hash(c.sampler, rec) >= threshold) break;
          rec.sport = static_cast<std::uint16_t>(1024 + rng() % 64000);
          draw_source();
        }
      }
      const SourcePath& sp = sources[s];
      std::size_t heard = 0;
      for (const std::uint32_t a : sp.deployers) {
        const std::uint32_t sampled = interval == 1 ? c.flood_flow_packets : flood_sampled(rng);
        if (sampled == 0) continue;
        AsStats& st = stats[a];
        ++st.records;
        ++res.records;
        rec.pcount = sampled;
        const sample::Decision d = sampler_of(a).decide(rec);
        if (d == sample::Decision::dropped) continue;
        ++st.reports;
        ++res.reports;
        res.coherent_reports += d == sample::Decision::kept_coherent;
        if (!within_budget(a, now)) {
          ++st.over_budget;
          ++res.over_budget;
          continue;
        }
        ++st.reports_to_victim;
        ++res.victim_reports;
        ++res.victim_flood_reports;
        ++heard;
        if (!res.first_report) res.first_report = now;
        if (st.first_to_victim < 0) {
          st.first_to_victim = now;
          if (++deployers_heard == res.deployers_on_paths) res.all_deployers = now;
        }
        SourcePath& origin = sources[origin_of[s]];
        if (a == sp.deployers.front() && !origin.known_origin) {
          origin.known_origin = true;
          if (!res.first_origin) res.first_origin = now;
          if (++origins_known == res.sources_with_deployer) res.all_origins = now;
        }
      }
      if (!res.full_path && sp.deployers.size() >= 2 && heard == sp.deployers.size()) res.full_path = now;
    } else {
      const auto j = static_cast<std::size_t>(rng() % c.background_destinations.size());
      const RoutingTree& tree = trees.at(j + 1);
      const auto src_as = static_cast<std::uint32_t>(rng() % n);
      const std::uint64_t packets = 1 + background_packets(rng);
      const bool to_victim = tree.destination == c.victim;
      rec.src = core::IpAddress::v4(0x0c000000u | ((src_as & 0xffffu) << 8) | (rng() & 0xffu));
      rec.dst = to_victim ? victim_address : core::IpAddress::v4(0x0d000000u | (tree.destination & 0xffffffu));
      rec.dport = 443;
      if (tree.kind[src_as] == RouteKind::none) continue;
      for (std::uint32_t a = src_as;; a = tree.next[a]) {
        if (deploy[a]) {
          std::binomial_distribution<std::uint64_t> sampled_of(packets, 1.0 / interval);
          const std::uint64_t sampled = interval == 1 ? packets : sampled_of(rng);
          if (sampled > 0) {
            AsStats& st = stats[a];
            ++st.records;
            ++res.records;
            rec.pcount = sampled;
            const sample::Decision d = sampler_of(a).decide(rec);
            if (d != sample::Decision::dropped) {
              ++st.reports;
              ++res.reports;
              res.coherent_reports += d == sample::Decision::kept_coherent;
              if (to_victim) {
                if (within_budget(a, now)) {
                  ++st.reports_to_victim;
                  ++res.victim_reports;
                } else {
                  ++st.over_budget;
                  ++res.over_budget;
                }
              }
            }
          }
        }
        if (a == tree.destination) break;
      }
    }
    if (c.stop_when_known && all_known()) break;
  }
  res.simulated_s = std::min(now, c.duration_s);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (stats[i].records == 0) continue;
    stats[i].index = i;
    res.ases.push_back(stats[i]);
  }
  return res;
}

}  // namespace overflowd::sim
