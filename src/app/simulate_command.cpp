// `overflowd simulate`: the simulator's command line (src/sim/ is the engine). One run per
// combination of the listed flood rates, deployment shares and coherent shares, times --trials;
// one CSV row per run, and the first run in full (every AS's figures) as JSON.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "app/commands.hpp"
#include "core/parse.hpp"
#include "io/text_file.hpp"
#include "sim/simulation.hpp"

namespace overflowd::app {

struct SimulateCommand {
  CLI::App* app = nullptr;
  std::string topology, write_topology, csv, json, deploy = "random", coherent_key;
  std::uint32_t generate = 0, tier1 = 8;
  std::uint32_t victim = 0, sources = 100, trials = 1, background_destinations = 8;
  std::vector<std::uint32_t> source_list, deploy_list;
  std::vector<double> flood_pps{1e5}, deploy_share{0.1}, coherent_share{0.0};
  std::uint32_t flood_flow_packets = 1, exporter_interval = 1;
  bool not_spoofed = false, stop_when_known = false, attacker = false, quiet = false;
  double background = 0, background_packets = 10, rate = 1e-5, budget = 10, burst = 20, duration = 60;
  std::uint64_t max_flows = 0, seed = 1;
};

SimulateCommand* add_simulate_command(CLI::App& app) {
  static SimulateCommand cmd;  // lives as long as the CLI::App of main()
  auto* s = app.add_subcommand("simulate",
                               "Simulate overflowd on an AS-level internet: a flood toward a victim, the ASes that deploy\n"
                               "overflowd sampling it, and how fast the victim learns who carries it (docs/SIMULATION.md).");
  cmd.app = s;
  auto* topo = s->add_option("--topology", cmd.topology, "CAIDA AS-relationship file (<provider>|<customer>|-1, <peer>|<peer>|0)")
                   ->type_name("FILE");
  auto* gen = s->add_option("--generate", cmd.generate, "Instead: a synthetic topology of N ASes (power-law degree, tiered)")
                  ->type_name("N")->check(CLI::Range(2u, 10'000'000u));
  topo->excludes(gen);
  s->add_option("--tier1", cmd.tier1, "Generated topology: tier-1 ASes (a peering clique)")->capture_default_str();
  s->add_option("--write-topology", cmd.write_topology, "Write the topology used (CAIDA format) to FILE")->type_name("FILE");
  s->add_option("--victim", cmd.victim, "The victim's ASN (default: a stub AS chosen by --seed)")->type_name("ASN");
  s->add_option("--sources", cmd.sources, "Flood sources: S ASes chosen at random (by --seed)")->capture_default_str();
  s->add_option("--source", cmd.source_list, "Flood source ASN instead (repeatable)")->type_name("ASN")->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  s->add_option("--flood-pps", cmd.flood_pps, "R: flood packets per second, all sources together (comma list: one run each)")
      ->delimiter(',')->capture_default_str();
  s->add_option("--flood-flow-packets", cmd.flood_flow_packets, "Packets per flood flow (1: each packet its own flow)")
      ->check(CLI::Range(1u, 1'000'000'000u))->capture_default_str();
  s->add_flag("--not-spoofed", cmd.not_spoofed, "Flood sources use their own addresses (default: spoofed, random)");
  s->add_option("--background-flows", cmd.background, "Background flows per second between random ASes")->capture_default_str();
  s->add_option("--background-packets", cmd.background_packets, "Mean packets per background flow")->capture_default_str();
  s->add_option("--background-destinations", cmd.background_destinations, "Destination ASes of background flows (the victim is one)")
      ->check(CLI::Range(1u, 4096u))->capture_default_str();
  s->add_option("--deploy", cmd.deploy, "Who deploys: random, degree, transit-first, list")
      ->check(CLI::IsMember({"random", "degree", "transit-first", "list"}))->capture_default_str();
  s->add_option("--deploy-share", cmd.deploy_share, "Share of ASes deploying (comma list)")->delimiter(',')->capture_default_str();
  s->add_option("--deploy-as", cmd.deploy_list, "With --deploy list: a deploying ASN (repeatable)")->type_name("ASN")->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  s->add_option("--exporter-interval", cmd.exporter_interval, "N: each deploying AS's exporter samples 1 in N packets")
      ->check(CLI::Range(1u, 1'000'000u))->capture_default_str();
  s->add_option("--rate", cmd.rate, "r: overflowd's rate (chance per packet that a flow is reported)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  s->add_option("--coherent-share", cmd.coherent_share, "X: path-coherent share of the probability (comma list)")
      ->delimiter(',')->capture_default_str();
  s->add_option("--coherent-key", cmd.coherent_key, "The public coherent key, 32 hex digits (default: overflowd's)")->type_name("HEX");
  s->add_flag("--attacker-knows-key", cmd.attacker, "The flood picks 5-tuples that the coherent draw cannot select");
  s->add_option("--budget", cmd.budget, "Reports per second per AS toward the victim (0: unlimited)")->capture_default_str();
  s->add_option("--budget-burst", cmd.burst, "Burst of that budget")->capture_default_str();
  s->add_option("--duration", cmd.duration, "Simulated seconds at most")->check(CLI::Range(0.0, 1e9))->capture_default_str();
  s->add_option("--max-flows", cmd.max_flows, "Flows at most per run (0: no limit)");
  s->add_flag("--stop-when-known", cmd.stop_when_known, "End a run once every time-to-context is known (a full path only when X > 0)");
  s->add_option("--trials", cmd.trials, "Runs per combination (seeds --seed, --seed+1, ...)")->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  s->add_option("--seed", cmd.seed, "Seed of the topology, the choices and the samplers' private streams")->capture_default_str();
  s->add_option("--csv", cmd.csv, "Write one row per run to FILE (default: standard output)")->type_name("FILE");
  s->add_option("--json", cmd.json, "Write the first run in full (per-AS figures) as JSON to FILE")->type_name("FILE");
  s->add_flag("-q,--quiet", cmd.quiet, "No summary on stderr");
  return &cmd;
}

bool simulate_chosen(const SimulateCommand* cmd) { return cmd && cmd->app && cmd->app->parsed(); }

namespace {

std::string opt(const std::optional<double>& v) { return v ? fmt::format("{:.6g}", *v) : std::string(); }
nlohmann::json opt_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

}  // namespace

int run_simulate_command(SimulateCommand* cmd) {
  const SimulateCommand& a = *cmd;
  const auto started = std::chrono::steady_clock::now();
  sim::CaidaCounts counts;
  std::vector<sim::Link> generated;
  std::expected<sim::Topology, sim::CaidaRefusal> topology = std::unexpected(sim::CaidaRefusal{sim::CaidaError::empty, 0});
  if (!a.topology.empty()) {
    // read_text_file allocates its bound up front: bound it by the file's size (a real CAIDA file
    // is about 10 MB), within 1 GiB.
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(a.topology, ec);
    const std::size_t bound = std::size_t{1} << 30;
    auto text = io::read_text_file(a.topology, ec ? bound : static_cast<std::size_t>(std::min<std::uintmax_t>(size + 4096, bound)));
    if (!text) {
      print_error(text.error());
      return kExitUsage;
    }
    topology = sim::parse_caida(std::as_bytes(std::span(*text)), {}, &counts);
    if (!topology) {
      print_error(fmt::format("{}: refused (caida.{}){}", a.topology, sim::to_string(topology.error().code),
                              topology.error().line ? fmt::format(" at line {}", topology.error().line) : ""));
      return kExitUsage;
    }
  } else {
    sim::GeneratorConfig g;
    g.ases = a.generate ? a.generate : 1000;
    g.tier1 = a.tier1;
    g.seed = a.seed;
    generated = sim::generate_links(g);
    topology = sim::Topology::from_links(generated);
    if (!topology) {
      print_error(fmt::format("generated topology refused (caida.{})", sim::to_string(topology.error().code)));
      return kExitFailure;
    }
  }
  const sim::Topology& t = *topology;
  const auto n = static_cast<std::uint32_t>(t.size());
  if (!a.write_topology.empty()) {
    std::ofstream out(a.write_topology);
    if (!generated.empty()) {
      out << sim::to_caida_text(generated);
    } else {
      std::vector<sim::Link> links;
      for (std::uint32_t i = 0; i < n; ++i) {
        for (const std::uint32_t c : t.customers(i)) links.push_back({t.asn(i), t.asn(c), sim::Relationship::provider_customer});
        for (const std::uint32_t p : t.peers(i))
          if (i < p) links.push_back({t.asn(i), t.asn(p), sim::Relationship::peer});
      }
      out << sim::to_caida_text(links);
    }
    if (!out) {
      print_error(a.write_topology + ": cannot write");
      return kExitUsage;
    }
  }

  std::mt19937_64 rng(a.seed);
  auto pick = [&] { return static_cast<std::uint32_t>(rng() % n); };
  sim::ScenarioConfig base;
  if (a.victim) {
    const auto v = t.index_of(a.victim);
    if (!v) {
      print_error(fmt::format("--victim: AS{} is not in the topology", a.victim));
      return kExitUsage;
    }
    base.victim = *v;
  } else {
    // A stub (no customers) with a provider, chosen by the seed.
    std::vector<std::uint32_t> stubs;
    for (std::uint32_t i = 0; i < n; ++i)
      if (t.customers(i).empty() && !t.providers(i).empty()) stubs.push_back(i);
    base.victim = stubs.empty() ? pick() : stubs[rng() % stubs.size()];
  }
  if (!a.source_list.empty()) {
    for (const std::uint32_t asn : a.source_list) {
      const auto s = t.index_of(asn);
      if (!s) {
        print_error(fmt::format("--source: AS{} is not in the topology", asn));
        return kExitUsage;
      }
      base.sources.push_back(*s);
    }
  } else {
    while (base.sources.size() < a.sources) {
      const std::uint32_t s = pick();
      if (s != base.victim || n == 1) base.sources.push_back(s);
    }
  }
  base.background_destinations.push_back(base.victim);
  while (base.background_destinations.size() < a.background_destinations) base.background_destinations.push_back(pick());
  std::vector<sim::RoutingTree> trees;
  trees.push_back(sim::route_to(t, base.victim));
  for (const std::uint32_t d : base.background_destinations) trees.push_back(sim::route_to(t, d));

  base.flood_flow_packets = a.flood_flow_packets;
  base.spoofed = !a.not_spoofed;
  base.background_flows_per_s = a.background;
  base.background_flow_packets = a.background_packets;
  base.exporter_interval = a.exporter_interval;
  base.sampler.rate = a.rate;
  if (!a.coherent_key.empty())
    if (auto r = set_coherent_key(base.sampler, "--coherent-key", a.coherent_key); !r) {
      print_error(r.error());
      return kExitUsage;
    }
  base.budget_per_s = a.budget;
  base.budget_burst = a.burst;
  base.duration_s = a.duration;
  if (a.max_flows) base.max_flows = a.max_flows;
  base.stop_when_known = a.stop_when_known;
  base.attacker_knows_key = a.attacker;
  for (const double x : a.coherent_share)
    if (!(x >= 0 && x <= 1)) {
      print_error(fmt::format("--coherent-share: {} is outside [0, 1]", x));
      return kExitUsage;
    }
  for (const double x : a.deploy_share)
    if (!(x >= 0 && x <= 1)) {
      print_error(fmt::format("--deploy-share: {} is outside [0, 1]", x));
      return kExitUsage;
    }
  const sim::DeploymentKind kind = a.deploy == "degree"          ? sim::DeploymentKind::degree
                                   : a.deploy == "transit-first" ? sim::DeploymentKind::transit_first
                                   : a.deploy == "list"          ? sim::DeploymentKind::list
                                                                 : sim::DeploymentKind::random;

  std::ofstream csv_file;
  if (!a.csv.empty()) {
    csv_file.open(a.csv);
    if (!csv_file) {
      print_error(a.csv + ": cannot write");
      return kExitUsage;
    }
  }
  std::ostream& csv = a.csv.empty() ? std::cout : csv_file;
  csv << "trial,flood_pps,deploy_share,coherent_share,attacker,deployers_on_paths,sources_with_deployer,sources_with_path,"
         "first_report_s,all_deployers_s,first_origin_s,all_origins_s,full_path_s,simulated_s,flows,flood_flows,"
         "records,reports,victim_reports,victim_flood_reports,coherent_reports,over_budget,victim_reports_per_s,"
         "max_as_reports_to_victim_per_s,ases_over_budget\n";
  nlohmann::json first;
  std::uint64_t total_flows = 0, runs = 0;
  for (const double pps : a.flood_pps) {
    for (const double share : a.deploy_share) {
      for (const double x : a.coherent_share) {
        for (std::uint32_t trial = 0; trial < a.trials; ++trial) {
          sim::ScenarioConfig c = base;
          c.flood_pps = pps;
          c.sampler.coherent_share = x;
          c.wait_for_full_path = x > 0;  // without a coherent share a full path is a rare event
          c.seed = a.seed + trial;
          const auto deploy = sim::choose_deployment(t, kind, share, a.deploy_list, c.seed);
          const sim::ScenarioResult r = sim::simulate(t, deploy, trees, c);
          total_flows += r.flows;
          ++runs;
          const double secs = r.simulated_s > 0 ? r.simulated_s : 1;
          double max_as = 0;
          std::uint64_t ases_over = 0;
          for (const auto& s : r.ases) {
            max_as = std::max(max_as, static_cast<double>(s.reports_to_victim) / secs);
            ases_over += s.over_budget > 0;
          }
          csv << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{:.6g},{},{},{},{},{},{},{},{},{:.6g},{:.6g},{}\n", trial, pps,
                             share, x, a.attacker ? 1 : 0, r.deployers_on_paths, r.sources_with_deployer, r.sources_with_path,
                             opt(r.first_report),
                             opt(r.all_deployers), opt(r.first_origin), opt(r.all_origins), opt(r.full_path), r.simulated_s,
                             r.flows, r.flood_flows, r.records, r.reports, r.victim_reports, r.victim_flood_reports,
                             r.coherent_reports, r.over_budget, static_cast<double>(r.victim_reports) / secs, max_as, ases_over);
          if (first.is_null() && !a.json.empty()) {
            first = {{"victim_asn", t.asn(c.victim)},
                     {"flood_pps", pps},
                     {"deploy", a.deploy},
                     {"deploy_share", share},
                     {"coherent_share", x},
                     {"rate", c.sampler.rate},
                     {"exporter_interval", c.exporter_interval},
                     {"budget_per_s", c.budget_per_s},
                     {"spoofed", c.spoofed},
                     {"attacker_knows_key", c.attacker_knows_key},
                     {"seed", c.seed},
                     {"deployers_on_paths", r.deployers_on_paths},
                     {"sources_with_deployer", r.sources_with_deployer},
                     {"sources_with_path", r.sources_with_path},
                     {"first_report_s", opt_json(r.first_report)},
                     {"all_deployers_s", opt_json(r.all_deployers)},
                     {"first_origin_s", opt_json(r.first_origin)},
                     {"all_origins_s", opt_json(r.all_origins)},
                     {"full_path_s", opt_json(r.full_path)},
                     {"simulated_s", r.simulated_s},
                     {"flows", r.flows},
                     {"victim_reports_per_s", static_cast<double>(r.victim_reports) / secs},
                     {"ases", nlohmann::json::array()}};
            for (const auto& s : r.ases)
              first["ases"].push_back({{"asn", t.asn(s.index)},
                                       {"deploys", static_cast<bool>(deploy[s.index])},
                                       {"records", s.records},
                                       {"reports", s.reports},
                                       {"reports_per_s", static_cast<double>(s.reports) / secs},
                                       {"reports_to_victim", s.reports_to_victim},
                                       {"reports_to_victim_per_s", static_cast<double>(s.reports_to_victim) / secs},
                                       {"over_budget", s.over_budget},
                                       {"first_to_victim_s", s.first_to_victim >= 0 ? nlohmann::json(s.first_to_victim)
                                                                                     : nlohmann::json(nullptr)}});
          }
        }
      }
    }
  }
  if (!a.json.empty()) {
    std::ofstream out(a.json);
    out << first.dump(1) << '\n';
    if (!out) {
      print_error(a.json + ": cannot write");
      return kExitUsage;
    }
  }
  csv.flush();
  if (!a.quiet) {
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    fmt::print(stderr, "overflowd simulate: {} ASes, {} links; victim AS{}; {} runs, {} flows in {:.2f} s ({:.0f} flows/s)\n",
               n, t.link_count(), t.asn(base.victim), runs, total_flows, wall,
               wall > 0 ? static_cast<double>(total_flows) / wall : 0.0);
  }
  return kExitOk;
}

}  // namespace overflowd::app
