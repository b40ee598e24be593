// `overflowd simulate`'s engine (sim/simulation.hpp): simulated flows per second on one core, on a
// generated 70,000-AS topology (the size of today's CAIDA AS-relationship graph). items/s are
// flows; each flow's path is walked and every deploying AS on it with a sampled packet asks its
// own sample::Sampler.
//
//   BM_SimulateFlood/X      spoofed one-packet flows, 100 sources, 10 % of ASes deploying (random),
//                           exporters unsampled; X = coherent share in percent (0, 50, 100)
//   BM_SimulateSampledExport  the same with exporters sampling 1 in 100 and 100-packet flows
//   BM_SimulateBackground   background flows between random ASes toward 8 destinations
//   BM_RouteTo              one valley-free routing tree over the 70,000 ASes (items: ASes)
#include <benchmark/benchmark.h>

#include <memory>
#include <random>

#include "sim/simulation.hpp"

namespace {

using namespace overflowd::sim;

struct World {
  Topology topology;
  std::vector<bool> deploy;
  std::vector<RoutingTree> trees;
  ScenarioConfig config;
};

// Made once per benchmark (a few hundred milliseconds), outside the timed loop.
std::unique_ptr<World> make_world() {
  GeneratorConfig g;
  g.ases = 70'000;
  g.seed = 4;
  auto t = Topology::from_links(generate_links(g));
  auto w = std::make_unique<World>(World{std::move(*t), {}, {}, {}});
  w->deploy = choose_deployment(w->topology, DeploymentKind::random, 0.1, {}, 1);
  std::mt19937_64 rng(9);
  const auto n = static_cast<std::uint32_t>(w->topology.size());
  w->config.victim = 69'999;  // the last AS to join: a stub
  for (int i = 0; i < 100; ++i) w->config.sources.push_back(static_cast<std::uint32_t>(rng() % n));
  w->trees.push_back(route_to(w->topology, w->config.victim));
  w->config.background_destinations.push_back(w->config.victim);
  for (int i = 0; i < 7; ++i) w->config.background_destinations.push_back(static_cast<std::uint32_t>(rng() % n));
  for (const auto d : w->config.background_destinations) w->trees.push_back(route_to(w->topology, d));
  w->config.flood_pps = 1e5;
  w->config.sampler.rate = 1e-5;
  w->config.duration_s = 1e9;
  w->config.max_flows = 200'000;
  return w;
}

void run(benchmark::State& state, const World& w, const ScenarioConfig& c) {
  std::uint64_t flows = 0, seed = 1;
  for (auto _ : state) {
    ScenarioConfig run = c;
    run.seed = seed++;
    const ScenarioResult r = simulate(w.topology, w.deploy, w.trees, run);
    flows += r.flows;
    benchmark::DoNotOptimize(r.reports);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(flows));
}

void BM_SimulateFlood(benchmark::State& state) {
  const auto w = make_world();
  ScenarioConfig c = w->config;
  c.sampler.coherent_share = static_cast<double>(state.range(0)) / 100;
  run(state, *w, c);
}
BENCHMARK(BM_SimulateFlood)->Arg(0)->Arg(50)->Arg(100)->Unit(benchmark::kMillisecond);

void BM_SimulateSampledExport(benchmark::State& state) {
  const auto w = make_world();
  ScenarioConfig c = w->config;
  c.exporter_interval = 100;
  c.flood_flow_packets = 100;
  run(state, *w, c);
}
BENCHMARK(BM_SimulateSampledExport)->Unit(benchmark::kMillisecond);

void BM_SimulateBackground(benchmark::State& state) {
  const auto w = make_world();
  ScenarioConfig c = w->config;
  c.flood_pps = 0;
  c.background_flows_per_s = 1e5;
  run(state, *w, c);
}
BENCHMARK(BM_SimulateBackground)->Unit(benchmark::kMillisecond);

void BM_RouteTo(benchmark::State& state) {
  const auto w = make_world();
  std::uint32_t dest = 0;
  for (auto _ : state) {
    const RoutingTree t = route_to(w->topology, dest);
    dest = (dest + 7919) % static_cast<std::uint32_t>(w->topology.size());
    benchmark::DoNotOptimize(t.next.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(w->topology.size()));
}
BENCHMARK(BM_RouteTo)->Unit(benchmark::kMillisecond);

}  // namespace
