// The sender's scrape (GET /metrics) with one exporter's templates cached and with 4,096 exporters'
// templates cached (issue 14, benchmarks): what one scrape costs on the CPU, side by side.
// A scrape asks each worker for its counters (PipelineCounters, the SIGUSR1 path: the decode
// counters copied, the template cache's domain and template counts read) and renders the
// exposition (app::add_sender_counts, the template gauges, text()). Labels never name an exporter,
// so the exposition has the same series whatever the cache holds; this measures that the cost does
// not grow with it either. Datagrams are NetFlow v9 template flowsets (8 templates per exporter,
// 18 fields each, as the v9 decode benchmark's), one exporter address per domain.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "app/metrics.hpp"
#include "app/pipeline.hpp"
#include "core/metrics.hpp"
#include "decode/dispatch.hpp"
#include "decode_bench_support.hpp"

namespace {

using namespace overflowd;
using bench::Bytes;

constexpr std::uint16_t kFields[][2] = {{8, 4},  {12, 4}, {15, 4}, {4, 1},  {5, 1},  {6, 1},
                                        {7, 2},  {11, 2}, {10, 2}, {14, 2}, {16, 2}, {17, 2},
                                        {9, 1},  {13, 1}, {2, 4},  {1, 4},  {22, 4}, {21, 4}};
constexpr int kTemplatesPerExporter = 8;

Bytes templates_datagram() {
  Bytes t;
  t.u16(9), t.u16(kTemplatesPerExporter), t.u32(3'600'000), t.u32(1'700'000'000), t.u32(1), t.u32(1);
  const std::size_t at = t.b.size();
  t.u16(0), t.u16(0);
  for (int i = 0; i < kTemplatesPerExporter; ++i) {
    t.u16(static_cast<std::uint32_t>(256 + i)), t.u16(std::size(kFields));
    for (const auto& f : kFields) t.u16(f[0]), t.u16(f[1]);
  }
  t.end_set(at);
  return t;
}

// A worker's dispatcher that decoded 4,096 template datagrams from `exporters` exporters in turn:
// the same counters either way (so the same series), only the cache's contents differ.
decode::Dispatcher populated(std::int64_t exporters) {
  decode::Dispatcher dispatcher;
  const Bytes tmpl = templates_datagram();
  std::vector<core::FlowRecord> out;
  for (std::int64_t i = 0; i < 4096; ++i) {
    core::Datagram d = tmpl.datagram();
    d.exporter = core::IpAddress::v4(0x0a000000u + static_cast<std::uint32_t>(i % exporters));  // 10.0.x.y
    (void)dispatcher.decode(d, out);
  }
  return dispatcher;
}

void BM_SenderScrape(benchmark::State& state) {
  const decode::Dispatcher dispatcher = populated(state.range(0));
  if (dispatcher.templates().domain_count() != static_cast<std::size_t>(state.range(0))) {
    state.SkipWithError("the cache does not hold every exporter's domain");
    return;
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    // The worker's answer (Worker::publish): counters copied, the cache's sizes read.
    app::PipelineCounters c;
    c.decode = dispatcher.counters();
    c.template_domains = dispatcher.templates().domain_count();
    c.templates = dispatcher.templates().template_count();
    app::PipelineResult r;
    r.workers.push_back(c);
    r.total.merge(c);
    // The render (commands.cpp): the summary's counters, then the template gauges.
    std::vector<core::NamedCount> counts;
    r.total.append_to(counts);
    core::metrics::Exposition e;
    app::add_info(e, "send", std::string(64, '0'));
    app::add_sender_counts(e, counts);
    using core::metrics::Type;
    e.add("overflowd_template_cache_domains", Type::gauge, "held", {}, static_cast<double>(r.total.template_domains));
    e.add("overflowd_template_cache_templates", Type::gauge, "held", {}, static_cast<double>(r.total.templates));
    const std::string text = e.text();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["domains"] = static_cast<double>(dispatcher.templates().domain_count());
  state.counters["templates"] = static_cast<double>(dispatcher.templates().template_count());
  state.counters["exposition_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_SenderScrape)->Arg(1)->Arg(4096)->Unit(benchmark::kMicrosecond);

}  // namespace
