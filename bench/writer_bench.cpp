// The writer's worst case (issue 13 item 1): new keys sharing one contact. Reports stored per
// second when the 20,000 reports of an iteration come from keys that share one contact, K keys per
// contact (1, 100 or 10,000), against the same reports with a contact of their own per key
// (unique: the target is within 2x of it). Reports are signed and verified beforehand; each
// iteration stores them in batches of 1,000 (as the writer commits) into a fresh database.
//   BM_StoreKeysPerContact/keys:K/shared:S   S = 1: every key names the same contact; 0: its own
// Counters: reports_per_s (wall) and reports_per_cpu_s (the process's CPU time), the figure that
// holds on a loaded machine. Run: build/bench/writer_bench --benchmark_repetitions=5.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <time.h>

#include <filesystem>
#include <map>
#include <vector>

#include "core/flow_record.hpp"
#include "receive/ingest.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "store/store.hpp"

namespace {

using namespace overflowd;

constexpr std::size_t kBatch = 1000;
constexpr std::size_t kReports = 20'000;
constexpr std::int64_t kNow = 1'750'000'000LL * 1'000'000'000;

// kReports verified reports from `keys` keys (round robin), all naming one contact or each its own.
std::vector<receive::Item> make_items(std::size_t keys, bool shared) {
  std::vector<receive::Item> items;
  items.reserve(kReports);
  std::vector<report::Signer> signers;
  for (std::size_t k = 0; k < keys; ++k) {
    report::Seed seed{};
    for (std::size_t b = 0; b < 8; ++b) seed[b] = static_cast<std::uint8_t>((k + 1) >> (8 * b));
    seed[31] = 0x5a;
    signers.emplace_back(report::keypair_from_seed(seed));
  }
  std::string message;
  for (std::size_t i = 0; i < kReports; ++i) {
    const std::size_t k = i % keys;
    const std::string who = shared ? "victim" : "net" + std::to_string(k);
    report::ReportBuilder builder(report::ReportConfig{report::Contact{"noc@" + who + ".example", "Net " + who}});
    core::FlowRecord f;
    f.src = core::IpAddress::v4(0xC6120000u + static_cast<std::uint32_t>(i));
    f.dst = core::IpAddress::v4(0xCB007150u);
    f.exporter = core::IpAddress::v4(0xC0000201u);
    f.sport = static_cast<std::uint16_t>(1024 + i % 60000);
    f.dport = 80;
    f.protocol = 6;
    f.pcount = 1000;
    f.bcount = 60'000;
    f.stime_ms = kNow / 1'000'000 - 10'000;
    f.etime_ms = kNow / 1'000'000 - 1'000;
    f.source_version = 5;
    f.fields = core::kNetflowV5Fields;
    builder.build(f, kNow + static_cast<std::int64_t>(i), message);
    report::SignedReport r;
    signers[k].sign(message, r);
    items.push_back(receive::Item{receive::Arrival{receive::Input::udp, "127.0.0.1", kNow + static_cast<std::int64_t>(i)},
                                  receive::ingest(r.line, kNow, receive::SkewPolicy{}), receive::SpoofStatus::not_mine});
  }
  return items;
}

const std::vector<receive::Item>& items(std::size_t keys, bool shared) {
  static std::map<std::pair<std::size_t, bool>, std::vector<receive::Item>> cache;
  auto it = cache.find({keys, shared});
  if (it == cache.end()) it = cache.emplace(std::pair{keys, shared}, make_items(keys, shared)).first;
  return it->second;
}

double process_cpu_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void BM_StoreKeysPerContact(benchmark::State& state) {
  const auto keys = static_cast<std::size_t>(state.range(0));
  const bool shared = state.range(1) != 0;
  const auto& all = items(keys, shared);
  double cpu = 0;
  std::int64_t stored = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::string tmpl = (std::filesystem::temp_directory_path() / "overflowd-writer-bench-XXXXXX").string();
    const std::filesystem::path dir = ::mkdtemp(tmpl.data());
    store::StoreConfig c;
    c.path = (dir / "receive.db").string();
    auto s = std::move(*store::SqliteStore::open(c));
    state.ResumeTiming();
    const double start = process_cpu_s();
    for (std::size_t at = 0; at < all.size(); at += kBatch) {
      auto r = s->write(std::span(all).subspan(at, std::min(kBatch, all.size() - at)));
      if (!r) state.SkipWithError(r.error().c_str());
      else stored += static_cast<std::int64_t>(r->stored);
    }
    cpu += process_cpu_s() - start;
    state.PauseTiming();
    s.reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.counters["reports_per_s"] = benchmark::Counter(static_cast<double>(stored), benchmark::Counter::kIsRate);
  state.counters["reports_per_cpu_s"] = static_cast<double>(stored) / cpu;
}
BENCHMARK(BM_StoreKeysPerContact)
    ->ArgNames({"keys", "shared"})
    ->Args({1, 1})
    ->Args({100, 1})
    ->Args({100, 0})
    ->Args({10'000, 1})
    ->Args({10'000, 0})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2);

}  // namespace
