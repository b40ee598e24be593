// NetFlow v5 decode throughput in memory: items/s are flows/s (frames/s for the packet walk), on
// one core. The input is netflow_4M.pcap from ../shared/data when it is there (2,708 datagrams,
// 78,684 flows), else a synthetic capture written to a temporary file; either way it is read once,
// before timing, and every iteration goes over the whole buffer.
//
//   BM_Decode         decode::Dispatcher::decode per datagram, as the pipeline calls it
//   BM_DecodeSample   the same plus sample::Sampler::keep per flow at the default rate (1e-5)
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

void BM_DecodeSample(benchmark::State& state) {
  const auto datagrams = datagram_views();
  decode::Dispatcher dispatcher;
  sample::Sampler sampler(sample::SamplerConfig{});  // the default rate, 1e-5, keyed from the kernel
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  std::uint64_t kept = 0;
  for (auto _ : state) {
    for (const auto& d : datagrams) {
      flows.clear();
      if (!dispatcher.decode(d, flows)) continue;
      for (const auto& f : flows) kept += sampler.keep(f);
    }
    benchmark::DoNotOptimize(kept);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(capture().flows));
  state.counters["kept_per_pass"] = static_cast<double>(kept) / static_cast<double>(state.iterations());
  state.SetLabel(capture().label);
}
BENCHMARK(BM_DecodeSample);

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
