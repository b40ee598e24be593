// NetFlow v5 decode throughput in memory: items/s are flows/s (frames/s for the packet walk), on
// one core. The input is netflow_4M.pcap from ../shared/data when it is there (2,708 datagrams,
// 78,684 flows), else a synthetic capture written to a temporary file; either way it is read once,
// before timing, and every iteration goes over the whole buffer.
//
//   BM_Decode         decode::Dispatcher::decode per datagram, as the pipeline calls it
//   BM_DecodeSample   the same plus sample::Sampler::keep per flow at the default rate (1e-5)
//   BM_DecodeSamplePolicy  BM_DecodeSample with a suspicion policy (issue 16) of 100,000 CIDRs in
//                     4 lists and 20 rules, as the pipeline runs it: flows counted into the
//                     per-destination volume inside the sampler's loop (sampled, z = 100, for
//                     /volume:1's dst_pps rule; pairs 1 in 10 for /volume:2's dst_sources rule), the
//                     rules run only when the draw falls below the most any rule could give;
//                     /volume:0 has no volume rule (no counting)
//   BM_PacketWalk     decode::walk_to_udp per captured frame (what the pcap source does)
//   BM_PcapFileSource source::PcapSource over the whole file per iteration (libpcap's reads
//                     from the page cache, the walk, the counters): datagrams/s
#include <benchmark/benchmark.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/datagram.hpp"
#include "decode/dispatch.hpp"
#include "decode/packet_walk.hpp"
#include "io/synth.hpp"
#include "core/clock.hpp"
#include "policy/policy.hpp"
#include "sample/sampler.hpp"
#include "source/pcap_source.hpp"

namespace {

using namespace overflowd;

struct StoredDatagram {
  core::IpAddress exporter;
  std::uint16_t exporter_port = 0;
  std::int64_t received_ns = 0;
  std::vector<std::byte> bytes;
};

struct Capture {
  std::string path;
  std::string label;  // which capture, shown in the benchmark's label
  std::uint32_t link_type = 0;
  std::vector<std::vector<std::byte>> frames;  // complete captured frames
  std::vector<StoredDatagram> datagrams;       // their UDP payloads, via source::PcapSource
  std::size_t flows = 0;                       // v5 records the datagrams hold
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "decode_bench: %s\n", why.c_str());
  std::exit(1);
}

void load(const std::string& path, Capture& c) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_open_offline(path.c_str(), errbuf);
  if (!handle) die(path + ": " + errbuf);
  c.link_type = static_cast<std::uint32_t>(pcap_datalink(handle));
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(handle, &hdr, &data) == 1) {
    if (hdr->caplen < hdr->len) continue;  // cut by the snap length (the file's last frame)
    const auto* p = reinterpret_cast<const std::byte*>(data);
    c.frames.emplace_back(p, p + hdr->caplen);
  }
  pcap_close(handle);

  auto source = source::PcapSource::open(path);
  if (!source) die(source.error());
  core::Datagram d;
  while ((*source)->next(d))
    c.datagrams.push_back({d.exporter, d.exporter_port, d.received_ns, {d.bytes.begin(), d.bytes.end()}});

  decode::Dispatcher dispatcher;
  std::vector<core::FlowRecord> flows;
  for (const auto& s : c.datagrams) {
    const core::Datagram view{s.exporter, s.exporter_port, s.received_ns, s.bytes};
    if (auto n = dispatcher.decode(view, flows)) c.flows += *n;
  }
  if (c.flows == 0) die(path + ": no NetFlow v5 flows");
}

struct TemporaryFile {
  std::string path;
  ~TemporaryFile() { std::filesystem::remove(path); }
};

const Capture& capture() {
  static const Capture c = [] {
    Capture out;
    const std::filesystem::path shared = std::filesystem::path(OVERFLOWD_SHARED_DATA) / "netflow_4M.pcap";
    if (std::filesystem::exists(shared)) {
      out.label = "netflow_4M";
      out.path = shared.string();
      load(out.path, out);
    } else {
      std::fprintf(stderr, "decode_bench: %s absent: using a synthetic capture\n", shared.c_str());
      io::SynthConfig cfg;
      cfg.background_flows = 60000;
      cfg.flood_flows = 20000;
      cfg.out = (std::filesystem::temp_directory_path() / ("overflowd_decode_bench_" + std::to_string(::getpid()) + ".pcap")).string();
      auto written = io::write_synth_pcap(cfg);
      if (!written) die(written.error());
      static const TemporaryFile file{cfg.out};  // removed at exit
      out.label = "synth";
      out.path = cfg.out;
      load(out.path, out);
    }
    return out;
  }();
  return c;
}

// Views over the stored payloads, built once, as the source hands them to the pipeline.
std::vector<core::Datagram> datagram_views() {
  std::vector<core::Datagram> v;
  for (const auto& s : capture().datagrams) v.push_back({s.exporter, s.exporter_port, s.received_ns, s.bytes});
  return v;
}

void BM_Decode(benchmark::State& state) {
  const auto datagrams = datagram_views();
  decode::Dispatcher dispatcher;
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  for (auto _ : state) {
    for (const auto& d : datagrams) {
      flows.clear();
      auto n = dispatcher.decode(d, flows);
      benchmark::DoNotOptimize(n);
      benchmark::DoNotOptimize(flows.data());
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(capture().flows));
  state.SetLabel(capture().label);
}
BENCHMARK(BM_Decode);

// One pass of BM_DecodeSample and of BM_DecodeSamplePolicy over the capture (an iteration): each a
// function of its own, so that callgrind can count a pass alone (--toggle-collect='*sample_pass*',
// '*policy_pass*'; docs/benchmarks.md) without the set-up (the capture, the policy's build).
[[gnu::noinline]] std::uint64_t sample_pass(const std::vector<core::Datagram>& datagrams, decode::Dispatcher& dispatcher,
                                            sample::Sampler& sampler, std::vector<core::FlowRecord>& flows) {
  std::uint64_t kept = 0;
  for (const auto& d : datagrams) {
    flows.clear();
    if (!dispatcher.decode(d, flows)) continue;
    for (const auto& f : flows) kept += sampler.keep(f);
  }
  return kept;
}

void BM_DecodeSample(benchmark::State& state) {
  const auto datagrams = datagram_views();
  decode::Dispatcher dispatcher;
  sample::Sampler sampler(sample::SamplerConfig{});  // the default rate, 1e-5, keyed from the kernel
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  std::uint64_t kept = 0;
  for (auto _ : state) {
    kept += sample_pass(datagrams, dispatcher, sampler, flows);
    benchmark::DoNotOptimize(kept);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(capture().flows));
  state.counters["kept_per_pass"] = static_cast<double>(kept) / static_cast<double>(state.iterations());
  state.SetLabel(capture().label);
}
BENCHMARK(BM_DecodeSample);

// 100,000 prefixes (/16 to /24, reproducible, spread over the IPv4 space) in 4 lists, and 20 rules
// using every kind of condition.
std::shared_ptr<const policy::Policy> bench_policy(int volume) {
  policy::PolicySpec spec;
  std::uint64_t s = 0x9e3779b97f4a7c15ULL;
  auto next = [&s] {  // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  for (int l = 0; l < 4; ++l) {
    policy::ListSpec list;
    list.name = "list" + std::to_string(l);
    for (int i = 0; i < 25'000; ++i)
      list.prefixes.push_back(guard::Cidr::of(core::IpAddress::v4(static_cast<std::uint32_t>(next())),
                                              static_cast<std::uint8_t>(16 + next() % 9)));
    spec.lists.push_back(std::move(list));
  }
  auto rule = [&](std::string name, policy::ReasonClass c) -> policy::RuleSpec& {
    policy::RuleSpec r;
    r.name = std::move(name);
    r.reason = c;
    r.multiplier = 10;
    spec.rules.push_back(std::move(r));
    return spec.rules.back();
  };
  using RC = policy::ReasonClass;
  for (int l = 0; l < 4; ++l) rule("src" + std::to_string(l), RC::listed_source).src_list = {"list" + std::to_string(l)};
  for (int l = 0; l < 4; ++l) rule("dst" + std::to_string(l), RC::listed_source).dst_list = {"list" + std::to_string(l)};
  rule("bogon", RC::bogon_source).src_special = true;
  rule("to-special", RC::bogon_source).dst_special = true;
  std::vector<policy::PortRange> amp;
  for (auto p : policy::amplification_ports()) amp.push_back({p, p});
  {
    auto& r = rule("amp-trigger", RC::reflection_trigger);
    r.protocol = {17};
    r.dst_port = amp;
    r.bytes_per_packet_max = 100;
  }
  {
    auto& r = rule("amp-response", RC::reflection_response);
    r.protocol = {17};
    r.src_port = amp;
    r.bytes_per_packet_min = 400;
  }
  {
    auto& r = rule("syn", RC::syn_flood);
    r.tcp_flags_set = 0x02;
    r.tcp_flags_unset = 0x10;
  }
  rule("victims", RC::volumetric).dst_cidr = {*guard::Cidr::parse("203.0.113.0/24"), *guard::Cidr::parse("198.51.100.0/24")};
  rule("attackers", RC::listed_source).src_cidr = {*guard::Cidr::parse("192.0.2.0/24")};
  rule("icmp", RC::volumetric).protocol = {1};
  {
    auto& r = rule("edge", RC::spoofed_source);
    r.exporter = {*core::IpAddress::parse("192.0.2.1")};
    r.input = {7};
  }
  rule("gre", RC::volumetric).protocol = {47};
  {
    auto& r = rule("telnet", RC::syn_flood);
    r.protocol = {6};
    r.dst_port = {{23, 23}, {2323, 2323}};
  }
  if (volume == 1) rule("flood", RC::volumetric).dst_pps = 100'000;
  else if (volume == 2) rule("flood", RC::volumetric).dst_sources = 10'000;
  else rule("gre2", RC::volumetric).protocol = {94};
  auto built = policy::Policy::build(std::move(spec));
  if (!built) die(built.error());
  return *built;
}

struct PolicyRun {
  std::shared_ptr<const policy::Policy> pol;
  policy::PolicyState state;
  policy::Decision decision;
  decode::Dispatcher dispatcher;
  sample::Sampler sampler{sample::SamplerConfig{}};
  std::vector<core::FlowRecord> flows;
  std::uint64_t kept = 0, suspicious = 0;
  std::size_t in_batch = 0;
  std::int64_t now = 0;
  explicit PolicyRun(std::shared_ptr<const policy::Policy> p) : pol(std::move(p)), state(*pol) { flows.reserve(64); }
};

[[gnu::noinline]] void policy_pass(const std::vector<core::Datagram>& datagrams, PolicyRun& run) {
  const policy::Policy& pol = *run.pol;
  std::uint64_t kept = 0, suspicious = 0;
  for (const auto& d : datagrams) {
    // As the pipeline: the clock read once per batch of 64 datagrams, when the policy counts volume.
    if (run.in_batch++ % 64 == 0 && pol.uses_volume()) run.now = core::system_clock().monotonic_ns();
    run.flows.clear();
    if (!run.dispatcher.decode(d, run.flows)) continue;
    policy::BatchObserver seen(pol, run.flows, run.state, run.now);
    const std::span<const core::FlowRecord> flows(run.flows);  // as the pipeline: size and data loaded once
    for (std::size_t i = 0; i < flows.size(); ++i) {
      const core::FlowRecord& f = flows[i];
      run.decision.suspicious = false;
      kept += run.sampler.keep(
          f, [&](double base) { return pol.ceiling(base); },
          [&](double base) {
            pol.decide(f, run.state, run.decision, i);
            suspicious += run.decision.suspicious;
            return pol.boosted(base, run.decision);
          });
      seen.add(f, i);  // as the pipeline: after the draw
    }
  }
  run.kept += kept;
  run.suspicious += suspicious;
}

void BM_DecodeSamplePolicy(benchmark::State& state) {
  const auto datagrams = datagram_views();
  PolicyRun run(bench_policy(static_cast<int>(state.range(0))));
  const auto& pol = run.pol;
  for (auto _ : state) {
    policy_pass(datagrams, run);
    benchmark::DoNotOptimize(run.kept);
  }
  const std::uint64_t kept = run.kept, suspicious = run.suspicious;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(capture().flows));
  state.counters["kept_per_pass"] = static_cast<double>(kept) / static_cast<double>(state.iterations());
  state.counters["suspicious_per_pass"] = static_cast<double>(suspicious) / static_cast<double>(state.iterations());
  state.SetLabel(capture().label + ", " + std::to_string(pol->table_ranges()) + " ranges");
}
BENCHMARK(BM_DecodeSamplePolicy)->ArgName("volume")->Arg(1)->Arg(2)->Arg(0);

void BM_PacketWalk(benchmark::State& state) {
  const Capture& c = capture();
  std::size_t bytes = 0;
  for (const auto& f : c.frames) bytes += f.size();
  for (auto _ : state) {
    for (const auto& f : c.frames) {
      auto udp = decode::walk_to_udp(c.link_type, f);
      benchmark::DoNotOptimize(udp);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(c.frames.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.SetLabel(c.label);
}
BENCHMARK(BM_PacketWalk);

void BM_PcapFileSource(benchmark::State& state) {
  const Capture& c = capture();
  std::size_t datagrams = 0;
  for (auto _ : state) {
    auto source = source::PcapSource::open(c.path);
    if (!source) {
      state.SkipWithError(source.error().c_str());
      return;
    }
    core::Datagram d;
    while ((*source)->next(d)) {
      benchmark::DoNotOptimize(d.bytes.data());
      ++datagrams;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(datagrams));
  state.SetLabel(c.label);
}
BENCHMARK(BM_PcapFileSource);

}  // namespace
