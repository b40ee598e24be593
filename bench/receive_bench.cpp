// The receiver's throughput: verified reports stored per second, SQLite (WAL, synchronous=FULL,
// batches of 1000 as the writer commits them). Reports are signed beforehand by the sender's own
// signer; each timed iteration of the store benchmarks verifies and stores one batch of 1000
// distinct reports into a fresh database on the temporary folder.
//   BM_Ed25519Verify                  crypto_sign_verify_detached alone: the floor of any verifier
//   BM_VerifyOnly/path/form           receive::ingest per report (verify + fields + digest);
//                                     path 0 = ingest_reference (nlohmann DOMs), 1 = ingest (fast path)
//   BM_VerifyReplay                   ingest of a report already checked (the cache of checked
//                                     signatures: a replay flood)
//   BM_StoreOnly/prefilled:N          SqliteStore::write of batches already verified, into a fresh database
//                                     or one already holding N reports (random digests: the
//                                     duplicate index is written where a receiver's is)
//   BM_VerifyAndStore/form/path       the whole path on one thread, batch by batch
//   BM_Pipeline/threads:N             the receiver's own pipeline: N verifying threads (Verifier) in
//                                     front of the writer thread (Writer, batches of 1000), 20,000
//                                     full-form reports per iteration into a fresh database;
//                                     items_per_second is per second of wall time
// The figure for "per core" is CPU time: cpu_us_per_report and reports_per_cpu_s count the whole
// process's CPU time (every thread), so they hold on a loaded machine where wall time does not.
// Run: build/bench/receive_bench --benchmark_repetitions=5 (the median is the figure to quote).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <sodium.h>
#include <sys/resource.h>
#include <time.h>

#include <filesystem>
#include <vector>

#include "app/process.hpp"
#include "core/flow_record.hpp"
#include "receive/ingest.hpp"
#include "store/store.hpp"
#include "receive/verifier.hpp"
#include "store/writer.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"

namespace {

using namespace overflowd;

constexpr std::size_t kBatch = 1000;
constexpr std::size_t kBatches = 20;
constexpr std::int64_t kNow = 1'750'000'000LL * 1'000'000'000;

// kBatches x kBatch distinct reports, from a few keys and contacts as a receiver sees them.
const std::vector<report::SignedReport>& reports() {
  static const std::vector<report::SignedReport> all = [] {
    std::vector<report::SignedReport> out;
    out.reserve(kBatch * kBatches);
    std::vector<report::Signer> signers;
    std::vector<report::ReportBuilder> builders;
    for (std::uint8_t k = 0; k < 8; ++k) {
      report::Seed seed{};
      seed.fill(static_cast<std::uint8_t>(k + 1));
      signers.emplace_back(report::keypair_from_seed(seed));
      builders.emplace_back(report::ReportConfig{report::Contact{"noc@net" + std::to_string(k) + ".example", "Net " + std::to_string(k)}});
    }
    std::string message;
    for (std::size_t i = 0; i < kBatch * kBatches; ++i) {
      core::FlowRecord f;
      f.src = core::IpAddress::v4(0xC6120000u + static_cast<std::uint32_t>(i));  // 198.18.0.0/15
      f.dst = core::IpAddress::v4(0xCB007150u);                                  // 203.0.113.80
      f.exporter = core::IpAddress::v4(0xC0000201u + static_cast<std::uint32_t>(i % 4));
      f.nexthop = core::IpAddress::v4(0xC00002FEu);
      f.sport = static_cast<std::uint16_t>(1024 + i % 60000);
      f.dport = 80;
      f.protocol = 6;
      f.pcount = 1000 + i;
      f.bcount = 60 * f.pcount;
      f.stime_ms = kNow / 1'000'000 - 10'000;
      f.etime_ms = kNow / 1'000'000 - 1'000;
      f.input = 3;
      f.output = 4;
      f.src_as = 64500;
      f.dst_as = 64501;
      f.source_version = 5;
      f.fields = core::kNetflowV5Fields;
      builders[i % 8].build(f, kNow + static_cast<std::int64_t>(i), message);
      report::SignedReport r;
      signers[i % 8].sign(message, r);
      out.push_back(std::move(r));
    }
    return out;
  }();
  return all;
}

double process_cpu_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Process CPU time per report, and its inverse, as counters.
struct CpuMeter {
  double start = process_cpu_s();
  void report(benchmark::State& state, std::int64_t reports) const {
    const double cpu = process_cpu_s() - start;
    state.counters["cpu_us_per_report"] = cpu * 1e6 / static_cast<double>(reports);
    state.counters["reports_per_cpu_s"] = static_cast<double>(reports) / cpu;
  }
};

receive::Verdict ingest_with(bool fast, std::string_view raw) {
  return fast ? receive::ingest(raw, kNow, receive::SkewPolicy{}) : receive::ingest_reference(raw, kNow, receive::SkewPolicy{});
}

struct TempDb {
  std::filesystem::path dir;
  TempDb() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "overflowd-bench-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
  }
  ~TempDb() { std::filesystem::remove_all(dir); }
};

std::unique_ptr<store::SqliteStore> open_store(const TempDb& t) {
  store::StoreConfig c;
  c.path = (t.dir / "bench.db").string();
  return std::move(*store::SqliteStore::open(c));
}

void BM_VerifyAndStore(benchmark::State& state) {
  const bool compact = state.range(0) != 0;
  const bool fast = state.range(1) != 0;
  const auto& all = reports();
  TempDb t;
  auto store = open_store(t);
  std::vector<receive::Item> batch;
  batch.reserve(kBatch);
  std::size_t next = 0, stored = 0;
  const CpuMeter cpu;
  for (auto _ : state) {
    batch.clear();
    for (std::size_t i = 0; i < kBatch; ++i, ++next) {
      const auto& r = all[next % all.size()];
      const std::string_view raw = compact ? r.compact() : std::string_view(r.line);
      batch.push_back(receive::Item{receive::Arrival{receive::Input::udp, "192.0.2.1", kNow},
                                    ingest_with(fast, raw), receive::SpoofStatus::not_mine});
    }
    auto res = store->write(batch);
    if (!res) state.SkipWithError(res.error().c_str());
    else stored += res->stored;
  }
  cpu.report(state, state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  state.counters["stored"] = static_cast<double>(stored);
  state.SetLabel(std::string(compact ? "compact" : "full") + (fast ? " fast" : " reference"));
}
BENCHMARK(BM_VerifyAndStore)
    ->ArgNames({"compact", "fast"})
    ->ArgsProduct({{1, 0}, {0, 1}})
    ->Iterations(kBatches)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Ed25519Verify(benchmark::State& state) {
  const auto& all = reports();
  std::vector<std::vector<std::uint8_t>> signed_messages;
  std::vector<report::PublicKey> keys;
  for (std::size_t i = 0; i < 64; ++i) {
    const auto v = receive::ingest(all[i].compact(), kNow, receive::SkewPolicy{});
    const auto& a = std::get<receive::Accepted>(v);
    std::vector<std::uint8_t> sm(a.signature.begin(), a.signature.end());
    sm.insert(sm.end(), a.message.begin(), a.message.end());
    signed_messages.push_back(std::move(sm));
    keys.push_back(a.key);
  }
  std::size_t next = 0;
  for (auto _ : state) {
    const std::size_t i = next++ % signed_messages.size();
    const auto& sm = signed_messages[i];
    if (crypto_sign_verify_detached(sm.data(), sm.data() + 64, sm.size() - 64, keys[i].data()) != 0)
      state.SkipWithError("bad signature");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Ed25519Verify);

void BM_VerifyOnly(benchmark::State& state) {
  const bool fast = state.range(0) != 0;
  const bool compact = state.range(1) != 0;
  const auto& all = reports();
  std::size_t next = 0;
  for (auto _ : state) {
    const auto& r = all[next++ % all.size()];
    auto v = ingest_with(fast, compact ? r.compact() : std::string_view(r.line));
    if (!std::holds_alternative<receive::Accepted>(v)) state.SkipWithError("refused");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_VerifyOnly)->ArgNames({"fast", "compact"})->ArgsProduct({{0, 1}, {1, 0}});

// A replay flood: the same reports again, their signatures in the cache of checked ones.
void BM_VerifyReplay(benchmark::State& state) {
  const auto& all = reports();
  receive::VerifiedCache cache;
  const std::size_t n = std::min<std::size_t>(all.size(), 1000);
  for (std::size_t i = 0; i < n; ++i) (void)receive::ingest(all[i].line, kNow, receive::SkewPolicy{}, &cache);
  std::size_t next = 0;
  for (auto _ : state) {
    auto v = receive::ingest(all[next++ % n].line, kNow, receive::SkewPolicy{}, &cache);
    if (!std::holds_alternative<receive::Accepted>(v)) state.SkipWithError("refused");
    benchmark::DoNotOptimize(v);
  }
  state.counters["hit_ratio"] = static_cast<double>(cache.hits()) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_VerifyReplay);

void BM_StoreOnly(benchmark::State& state) {
  const auto prefilled = static_cast<std::size_t>(state.range(0));
  const auto& all = reports();
  std::vector<std::vector<receive::Item>> batches(kBatches);
  for (std::size_t i = 0; i < all.size(); ++i)
    batches[i / kBatch].push_back(receive::Item{receive::Arrival{receive::Input::udp, "192.0.2.1", kNow},
                                                receive::ingest(all[i].compact(), kNow, receive::SkewPolicy{}),
                                                receive::SpoofStatus::not_mine});
  TempDb t;
  auto store = open_store(t);
  // Earlier reports: copies of the batches' with other digests and sources, stored untimed.
  for (std::size_t done = 0; done < prefilled; done += kBatch) {
    std::vector<receive::Item> earlier = batches[(done / kBatch) % kBatches];
    for (std::size_t i = 0; i < earlier.size(); ++i) {
      auto& a = std::get<receive::Accepted>(earlier[i].verdict);
      const std::uint64_t n = done + i + 1;
      crypto_generichash(a.digest.data(), a.digest.size(), reinterpret_cast<const unsigned char*>(&n), sizeof n, nullptr, 0);
      a.fields.saddr = core::IpAddress::v4(0x0A000000u + static_cast<std::uint32_t>(n * 2654435761u % 0xFFFFFFu));
    }
    if (auto res = store->write(earlier); !res) state.SkipWithError(res.error().c_str());
  }
  std::size_t next = 0;
  const CpuMeter cpu;
  for (auto _ : state) {
    auto res = store->write(batches[next++ % kBatches]);
    if (!res) state.SkipWithError(res.error().c_str());
  }
  cpu.report(state, state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
}
BENCHMARK(BM_StoreOnly)->ArgName("prefilled")->Arg(0)->Arg(100'000)->Iterations(kBatches)->Unit(benchmark::kMillisecond)->UseRealTime();

double thread_cpu_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct PipelineRun {
  double cpu_s = 0, writer_cpu_s = 0, feeder_cpu_s = 0, faults = 0, switches = 0;
  bool ok = true;
};

// All the reports through Verifier (N threads) and Writer into a fresh database; `timed` brackets
// the part measured (from the first report offered to the last one committed).
template <typename Timing>
PipelineRun run_pipeline(std::size_t threads, Timing&& timing) {
  const auto& all = reports();
  PipelineRun run;
  TempDb t;
  auto store = open_store(t);
  store::Writer writer(*store, store::WriterConfig{});
  receive::Verifier verifier(receive::VerifierConfig{threads, 8192}, receive::SkewPolicy{},
                             [&](std::vector<receive::Item>& items) { writer.put_all(items); });
  writer.start();
  verifier.start();
  const auto writer0 = writer.stats().thread_cpu_ns;
  timing(true);
  const double cpu0 = process_cpu_s(), feeder0 = thread_cpu_s();
  rusage u0{};
  ::getrusage(RUSAGE_SELF, &u0);
  for (const auto& r : all) verifier.put(receive::Arrival{receive::Input::udp, "192.0.2.1", kNow}, r.line);
  verifier.flush();
  writer.flush();
  run.cpu_s = process_cpu_s() - cpu0;
  run.feeder_cpu_s = thread_cpu_s() - feeder0;
  rusage u1{};
  ::getrusage(RUSAGE_SELF, &u1);
  timing(false);
  const auto ws = writer.stats();
  run.writer_cpu_s = static_cast<double>(ws.thread_cpu_ns - writer0) * 1e-9;
  run.faults = static_cast<double>(u1.ru_minflt - u0.ru_minflt);
  run.switches = static_cast<double>(u1.ru_nvcsw - u0.ru_nvcsw + u1.ru_nivcsw - u0.ru_nivcsw);
  run.ok = ws.stored == all.size();
  verifier.stop();
  writer.stop();
  return run;
}

void BM_Pipeline(benchmark::State& state) {
  app::keep_freed_heap();  // as overflowd receive does
  const auto threads = static_cast<std::size_t>(state.range(0));
  // A first pass untimed: the process's heap grows once, as a long-running receiver's has.
  static bool warm = false;
  if (!warm) {
    warm = true;
    (void)run_pipeline(threads, [](bool) {});
  }
  PipelineRun sum;
  std::int64_t total = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const PipelineRun run = run_pipeline(threads, [&](bool start) {
      if (start) state.ResumeTiming();
      else state.PauseTiming();
    });
    state.ResumeTiming();
    if (!run.ok) state.SkipWithError("not every report was stored");
    sum.cpu_s += run.cpu_s;
    sum.writer_cpu_s += run.writer_cpu_s;
    sum.feeder_cpu_s += run.feeder_cpu_s;
    sum.faults += run.faults;
    sum.switches += run.switches;
    total += static_cast<std::int64_t>(reports().size());
  }
  const double n = static_cast<double>(total);
  state.counters["cpu_us_per_report"] = sum.cpu_s * 1e6 / n;
  state.counters["reports_per_cpu_s"] = n / sum.cpu_s;
  // Where the CPU goes: the writer thread (the one serial stage: its rate is the ceiling of any
  // number of verifying threads), the thread offering the reports, the verifying threads (the rest).
  state.counters["writer_us_per_report"] = sum.writer_cpu_s * 1e6 / n;
  state.counters["feeder_us_per_report"] = sum.feeder_cpu_s * 1e6 / n;
  state.counters["verify_us_per_report"] = (sum.cpu_s - sum.writer_cpu_s - sum.feeder_cpu_s) * 1e6 / n;
  state.counters["page_faults_per_report"] = sum.faults / n;
  state.counters["context_switches_per_report"] = sum.switches / n;
  state.SetItemsProcessed(total);
}
BENCHMARK(BM_Pipeline)->ArgName("threads")->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
