// /api/summary with a million reports stored (issue 12 finding 5: 1.3-1.6 s at 78,667 reports
// when it counted the reports table). The database is made once per process: 1,000,000 reports
// toward my prefix over 24 hours of flow times, from 100 keys and 1,000 sources, inserted by SQL
// (rows carry a short message: the summary never reads it), then rolled up by the roll-ups' own
// statements (store/rollups.hpp), as the writer does batch by batch.
//   BM_Summary/range:R           SqliteQueries::summary: R = 0 all that is stored (the default),
//                                1 the last hour, 2 the last day; answers from the roll-ups
//   BM_SummaryNarrowedByKey/range:R  the same narrowed by one key (the page's filter): computed
//                                from that key's 10,000 reports, not the roll-ups
//   BM_RecountFromReports        what the old summary did for its totals and top sources: a pass
//                                over the reports themselves (side by side, for the ratio)
// Run: build/bench/summary_bench --benchmark_repetitions=5 (quote the medians).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/queries.hpp"
#include "store/rollups.hpp"
#include "store/store.hpp"

namespace {

using namespace overflowd;

constexpr std::int64_t kReports = 1'000'000;
constexpr std::int64_t kNowMs = 1'750'000'000'000;

struct Db {
  std::filesystem::path dir;
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<store::SqliteQueries> queries;
  std::vector<receive::Cidr> mine{*receive::Cidr::parse("198.51.100.0/24")};

  Db() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "overflowd-summary-bench-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
    store::StoreConfig c;
    c.path = (dir / "receive.db").string();
    c.my_prefixes = mine;
    c.durable = false;
    store = std::move(*store::SqliteStore::open(c));
    auto& db = store->db();
    const std::string rows =
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < " + std::to_string(kReports - 1) + ")"
        " INSERT INTO reports(digest, received_ns, input, peer, form, key, signature, message, email, identity, saddr,"
        " daddr, exporter, stime, etime, pcount, bcount, sampling_interval, input_if, src_as, time_flag, chart)"
        " SELECT CAST(i AS BLOB), (" + std::to_string(kNowMs) + " - (i * 86400000 / " + std::to_string(kReports) +
        ")) * 1000000 + 1000000000, 'udp', '127.0.0.1', 'full', printf('%064x', i % 100), x'00', '{}',"
        " printf('noc@net%d.example', i % 100), printf('Net %d', i % 100),"
        " printf('203.0.%d.%d', (i * 7919) % 1000 / 250, (i * 7919) % 250), printf('198.51.100.%d', i % 200),"
        " printf('192.0.2.%d', i % 3), " + std::to_string(kNowMs) + " - (i * 86400000 / " + std::to_string(kReports) +
        "), 0, 10 + i % 7, 1000 + i % 13, 1, i % 4, 64500 + i % 5, 0, 1 FROM c";
    if (!db.exec("BEGIN; " + rows + "; COMMIT;")) std::abort();
    for (const store::rollup::Table& t : store::rollup::tables())
      if (!db.exec(store::rollup::add(t, "1"))) std::abort();
    // A generous time limit: the narrowed summary is measured, not cut off, on a loaded machine.
    queries = std::move(*store::SqliteQueries::open(c.path, 4, std::chrono::seconds(60)));
  }
  ~Db() { std::filesystem::remove_all(dir); }
};

Db& db() {
  static Db d;
  return d;
}

void BM_Summary(benchmark::State& state) {
  Db& d = db();
  store::SummaryQuery q;
  q.my_prefixes = d.mine;
  if (state.range(0) == 1) q.since = static_cast<double>(kNowMs) / 1000.0 - 3600;
  if (state.range(0) == 2) q.since = static_cast<double>(kNowMs) / 1000.0 - 86'400;
  if (state.range(0) != 0) q.until = static_cast<double>(kNowMs) / 1000.0;
  std::int64_t total = 0;
  for (auto _ : state) {
    const auto out = d.queries->summary(q);
    total = out["totals"]["reports"].get<std::int64_t>();
    benchmark::DoNotOptimize(total);
  }
  state.counters["reports_in_range"] = static_cast<double>(total);
}
BENCHMARK(BM_Summary)->ArgName("range")->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The summary narrowed by the page's key filter (one key of 100: 10,000 reports over the day),
// computed from those reports through the index on key (the roll-ups hold no filter): the cost of
// the fallback, range as BM_Summary's.
void BM_SummaryNarrowedByKey(benchmark::State& state) {
  Db& d = db();
  store::SummaryQuery q;
  q.my_prefixes = d.mine;
  q.filter.key = std::string(63, '0') + "5";
  if (state.range(0) == 1) q.since = static_cast<double>(kNowMs) / 1000.0 - 3600;
  if (state.range(0) == 2) q.since = static_cast<double>(kNowMs) / 1000.0 - 86'400;
  if (state.range(0) != 0) q.until = static_cast<double>(kNowMs) / 1000.0;
  std::int64_t total = 0;
  for (auto _ : state) {
    const auto out = d.queries->summary(q);
    if (!out.contains("totals")) state.SkipWithError(out.dump().substr(0, 200).c_str());
    else total = out["totals"]["reports"].get<std::int64_t>();
    benchmark::DoNotOptimize(total);
  }
  state.counters["reports_in_range"] = static_cast<double>(total);
}
BENCHMARK(BM_SummaryNarrowedByKey)->ArgName("range")->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RecountFromReports(benchmark::State& state) {
  Db& d = db();
  auto& conn = d.store->db();
  for (auto _ : state) {
    auto totals = conn.prepare("SELECT COUNT(*), CAST(TOTAL(pcount * MAX(sampling_interval, 1)) AS INTEGER), MIN(stime),"
                               " MAX(stime), COUNT(DISTINCT key) FROM reports WHERE chart = 1");
    auto sources = conn.prepare("SELECT saddr, COUNT(*), SUM(pcount) FROM reports WHERE chart = 1 GROUP BY saddr"
                                " ORDER BY 3 DESC LIMIT 20");
    totals->step();
    while (sources->step() == SQLITE_ROW) benchmark::DoNotOptimize(sources->i64(1));
    benchmark::DoNotOptimize(totals->i64(0));
  }
}
BENCHMARK(BM_RecountFromReports)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
