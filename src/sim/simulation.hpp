// The simulator's engine: a flood (and background flows) on an AS topology, sampled by the ASes
// that deploy overflowd, with each deploying AS's decisions made by the project's own
// sample::Sampler (one per AS, each with its own private stream, all with the same public
// coherent key).
//
// Event-driven at the level of flows, never of packets (docs/SIMULATION.md):
//   - flows start as one Poisson process (flood flows at flood_pps / flood_flow_packets per
//     second, background flows at background_flows_per_s), so the clock jumps from flow to flow;
//   - on each deploying AS of a flow's valley-free path, the exporter's 1:N packet sampling is one
//     binomial draw (the flow's packets that AS sampled); a flow with none sampled makes no record;
//   - each record goes through that AS's Sampler::decide (p = rate x sampled x N, so on average
//     rate x packets: the model's R x r per AS);
//   - a report reaches the victim at the flow's start (export and delivery delays are not
//     modelled), if that AS's budget toward the victim (a token bucket, as the Guard's
//     per-destination budget) has a token.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "sample/sampler.hpp"
#include "sim/routing.hpp"
#include "sim/topology.hpp"

namespace overflowd::sim {

enum class DeploymentKind : std::uint8_t { random, degree, transit_first, list };

// Which ASes deploy: a share of them, at random, the highest-degree first, or the ASes that sell
// transit first (most customers first, then by degree); or the ASes listed (ASNs; unknown ones
// ignored).
[[nodiscard]] std::vector<bool> choose_deployment(const Topology& topology, DeploymentKind kind, double share,
                                                  const std::vector<std::uint32_t>& list, std::uint64_t seed);

struct ScenarioConfig {
  std::uint32_t victim = 0;                  // AS index
  std::vector<std::uint32_t> sources;        // AS indices the flood comes from (repeats allowed)
  double flood_pps = 1e5;                    // R: packets per second of the flood, all sources together
  std::uint32_t flood_flow_packets = 1;      // packets per flood flow (1: every packet its own flow)
  bool spoofed = true;                       // random source addresses (else the source AS's own)
  double background_flows_per_s = 0;         // flows between random ASes, also to the victim
  double background_flow_packets = 10;       // their mean packets (geometric)
  std::vector<std::uint32_t> background_destinations;  // AS indices (routes precomputed per destination)
  std::uint32_t exporter_interval = 1;       // N: each deploying AS's exporter samples 1 in N packets
  sample::SamplerConfig sampler;             // rate r, coherent share and key (seed: per AS, from `seed`)
  double budget_per_s = 10;                  // reports per second per (AS, destination); <= 0: none
  double budget_burst = 20;
  double duration_s = 60;                    // simulated time at most
  std::uint64_t max_flows = std::numeric_limits<std::uint64_t>::max();
  bool stop_when_known = false;              // stop once every time below is known
  bool wait_for_full_path = true;            // ... including full_path (which X = 0 rarely gives)
  bool attacker_knows_key = false;           // flood flows chosen so the coherent draw never picks them
  std::uint64_t seed = 1;
};

struct AsStats {
  std::uint32_t index = 0;
  std::uint64_t records = 0;            // flow records its exporter made (flows with a sampled packet)
  std::uint64_t reports = 0;            // reports its sampler made, to any destination
  std::uint64_t reports_to_victim = 0;  // of those, delivered to the victim within budget
  std::uint64_t over_budget = 0;        // refused by its budget toward the victim
  double first_to_victim = -1;          // simulated seconds; -1: none
};

struct ScenarioResult {
  // Times in simulated seconds from the flood's start; nullopt: not within the simulated time.
  std::optional<double> first_report;   // any flood report at the victim
  std::optional<double> all_deployers;  // a flood report from every deploying AS on the flood's paths
  std::optional<double> first_origin;   // from the first deploying AS of some source's path, about that source
  std::optional<double> all_origins;    // ... for every source whose path has a deploying AS
  std::optional<double> full_path;      // one flood flow reported by every deploying AS on its path,
                                        // on a path with at least two (one alone is no path)
  std::size_t deployers_on_paths = 0;   // k: deploying ASes on the union of the flood's paths
  std::size_t sources_with_deployer = 0;
  std::size_t sources_with_path = 0;    // flood sources with two or more deploying ASes on their path
  double simulated_s = 0;
  std::uint64_t flows = 0, flood_flows = 0, records = 0, reports = 0;
  std::uint64_t victim_reports = 0;       // flood and background reports delivered to the victim
  std::uint64_t victim_flood_reports = 0;
  std::uint64_t coherent_reports = 0;     // reports the coherent draw picked
  std::uint64_t over_budget = 0;
  std::uint64_t attacker_tries = 0;       // 5-tuples the informed attacker hashed
  std::vector<AsStats> ases;              // the ASes that made a record, by index
};

// Runs one scenario. `deploy[i]`: AS i deploys overflowd. `trees`: the routing tree to the victim
// first, then one per background destination (route_to), in the order of background_destinations.
[[nodiscard]] ScenarioResult simulate(const Topology& topology, const std::vector<bool>& deploy,
                                      const std::vector<RoutingTree>& trees, const ScenarioConfig& config);

}  // namespace overflowd::sim
