// sFlow v5 decode throughput in memory, one core: items/s are samples/s (flow and counter
// samples; the counter "flow_samples" gives flow samples/s alone). The input is sflow.pcap from
// ../shared/data (1,000 datagrams: 5,855 flow samples, 502 counter samples), read once through
// source::PcapSource before timing; every iteration decodes every datagram. Target: at least
// 5 million samples/s per core.
//
//   BM_SflowDecode    decode::sflow_v5::decode per datagram (the decoder alone)
//   BM_SflowDispatch  decode::Dispatcher::decode per datagram, as the pipeline calls it (sniffing
//                     and counting included)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/datagram.hpp"
#include "decode/dispatch.hpp"
#include "decode/sflow_v5.hpp"
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
  std::string error;  // why there is nothing to measure, if there is not
  std::vector<StoredDatagram> datagrams;
  std::uint64_t samples = 0;       // flow + counter samples in all datagrams
  std::uint64_t flow_samples = 0;
};

std::filesystem::path shared_data() {
  if (const char* env = std::getenv("OVERFLOWD_SHARED_DATA"); env && *env) return env;
  return OVERFLOWD_SHARED_DATA;
}

const Capture& capture() {
  static const Capture loaded = [] {
    Capture c;
    const auto path = shared_data() / "sflow.pcap";
    if (!std::filesystem::exists(path)) {
      c.error = path.string() + " is absent";
      return c;
    }
    auto source = source::PcapSource::open(path.string());
    if (!source) {
      c.error = source.error();
      return c;
    }
    core::Datagram d;
    while ((*source)->next(d))
      c.datagrams.push_back({d.exporter, d.exporter_port, d.received_ns, {d.bytes.begin(), d.bytes.end()}});
    std::vector<core::FlowRecord> flows;
    for (const auto& s : c.datagrams) {
      decode::sflow_v5::Stats stats;
      const core::Datagram view{s.exporter, s.exporter_port, s.received_ns, s.bytes};
      if (!decode::sflow_v5::decode(view, flows, stats)) continue;
      c.samples += std::uint64_t{stats.flow_samples} + stats.counter_samples + stats.unknown_samples;
      c.flow_samples += stats.flow_samples;
    }
    if (c.samples == 0) c.error = path.string() + ": no sFlow v5 samples";
    return c;
  }();
  return loaded;
}

void finish(benchmark::State& state, const Capture& c) {
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetItemsProcessed(iterations * static_cast<std::int64_t>(c.samples));
  state.counters["flow_samples"] =
      benchmark::Counter(static_cast<double>(c.flow_samples), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("sflow.pcap");
}

void BM_SflowDecode(benchmark::State& state) {
  const Capture& c = capture();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return;
  }
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  decode::sflow_v5::Stats stats;
  for (auto _ : state) {
    for (const auto& s : c.datagrams) {
      flows.clear();
      const core::Datagram view{s.exporter, s.exporter_port, s.received_ns, s.bytes};
      auto n = decode::sflow_v5::decode(view, flows, stats);
      benchmark::DoNotOptimize(n);
      benchmark::DoNotOptimize(flows.data());
    }
  }
  finish(state, c);
}
BENCHMARK(BM_SflowDecode);

void BM_SflowDispatch(benchmark::State& state) {
  const Capture& c = capture();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return;
  }
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  decode::Dispatcher dispatcher;
  for (auto _ : state) {
    for (const auto& s : c.datagrams) {
      flows.clear();
      const core::Datagram view{s.exporter, s.exporter_port, s.received_ns, s.bytes};
      auto n = dispatcher.decode(view, flows);
      benchmark::DoNotOptimize(n);
      benchmark::DoNotOptimize(flows.data());
    }
  }
  finish(state, c);
}
BENCHMARK(BM_SflowDispatch);

}  // namespace
