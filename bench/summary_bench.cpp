// /api/summary with a million reports stored (issue 12 finding 5: 1.3-1.6 s at 78,667 reports
// when it counted the reports table). The database is made once per process: 1,000,000 reports
// toward my prefix over 24 hours of flow times, from 100 keys and 1,000 sources, inserted by SQL
// (rows carry a message of a signed report's size, with metadata.reasons in the SUSPICIOUS ones),
// then rolled up by the roll-ups' own
// statements (store/rollups.hpp), as the writer does batch by batch.
//   BM_Summary/range:R           SqliteQueries::summary: R = 0 all that is stored (the default),
//                                1 the last hour, 2 the last day; answers from the roll-ups
//   BM_SummaryNarrowed/filter:F/range:R  the same narrowed by one of the page's filters (key,
//                                victim, class, reason): computed from the matching reports
//   BM_RecountFromReports        what the old summary did for its totals and top sources: a pass
//                                over the reports themselves (side by side, for the ratio)
// Run: build/bench/summary_bench --benchmark_repetitions=5 (quote the medians).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "core/ip_address.hpp"
#include "receive/prefix.hpp"
#include "store/queries.hpp"
#include "store/rollups.hpp"
#include "store/store.hpp"

namespace {

using namespace overflowd;

// OVERFLOWD_SUMMARY_REPORTS=N: another size (the filters' ratios were asked at ~80,000).
const std::int64_t kReports = [] {
  const char* n = std::getenv("OVERFLOWD_SUMMARY_REPORTS");
  return n && std::atoll(n) > 0 ? std::atoll(n) : std::int64_t{1'000'000};
}();
constexpr std::int64_t kNowMs = 1'750'000'000'000;
// Signed messages of a report's usual size (~600 bytes): the reason filter read them (LIKE) before
// report_reasons, so their length is part of what it cost.
const std::string kFlowData =
    R"({"contact":{"email":"noc@net1.example","identity":"Net 1"},"flowdata":{"bcount":1000,"daddr":"198.51.100.7",)"
    R"("dport":443,"etime":1750000000000,"exporter":"192.0.2.1","input":3,"nexthop":"192.0.2.254","output":7,)"
    R"("pcount":10,"protocol":6,"saddr":"203.0.1.2","sampling":{"interval":1},"sourcetype":{"type":"ipfix",)"
    R"("version":10},"sport":51234,"src_as":64501,"dst_as":64500,"stime":1749999999000,"tcp_flags":2,"tos":0},)";
const std::string kMessage = kFlowData + R"("metadata":{"class":"INFORMATIONAL","info":"FLOWSEEN","time":1750000000.5},)"
                             R"("version":1})";
const std::string kSuspiciousMessage =
    kFlowData + R"("metadata":{"class":"SUSPICIOUS","info":"FLOWSEEN","reasons":[{"class":"syn-flood","rule":"syn-only"}],)"
                R"("time":1750000000.5},"version":1})";

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
    // The addresses' 16-byte forms (receive::to_key16), which the filters' ranges read, by their text.
    if (!db.exec("CREATE TEMP TABLE addr(text TEXT PRIMARY KEY, bin BLOB)")) std::abort();
    {
      auto ins = db.prepare("INSERT INTO addr VALUES (?1, ?2)");
      if (!ins) std::abort();
      auto add = [&](const std::string& text) {
        ins->bind(1, text).bind_blob(2, receive::to_key16(*core::IpAddress::parse(text)));
        ins->step();
        ins->reset();
      };
      for (int i = 0; i < 200; ++i) add("198.51.100." + std::to_string(i));
      for (int i = 0; i < 1000; ++i) add("203.0." + std::to_string(i / 250) + "." + std::to_string(i % 250));
    }
    const std::string rows =
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < " + std::to_string(kReports - 1) + ")"
        " INSERT INTO reports(digest, received_ns, input, peer, form, key, signature, message, email, identity, saddr,"
        " daddr, exporter, stime, etime, pcount, bcount, sampling_interval, input_if, src_as, time_flag, chart, class, reasons,"
        " saddr_bin, daddr_bin)"
        " SELECT CAST(i AS BLOB), (" + std::to_string(kNowMs) + " - (i * 86400000 / " + std::to_string(kReports) +
        ")) * 1000000 + 1000000000, 'udp', '127.0.0.1', 'full', printf('%064x', i % 100), x'00',"
        " CASE WHEN i % 10 = 3 THEN '" + kSuspiciousMessage + "' ELSE '" + kMessage + "' END,"
        " printf('noc@net%d.example', i % 100), printf('Net %d', i % 100),"
        " printf('203.0.%d.%d', (i * 7919) % 1000 / 250, (i * 7919) % 250), printf('198.51.100.%d', i % 200),"
        " printf('192.0.2.%d', i % 3), " + std::to_string(kNowMs) + " - (i * 86400000 / " + std::to_string(kReports) +
        "), 0, 10 + i % 7, 1000 + i % 13, 1, i % 4, 64500 + i % 5, 0, 1,"
        " CASE WHEN i % 10 = 3 THEN 'SUSPICIOUS' ELSE 'INFORMATIONAL' END, CASE WHEN i % 10 = 3 THEN 'syn-flood' ELSE '' END,"
        " (SELECT bin FROM addr WHERE text = printf('203.0.%d.%d', (i * 7919) % 1000 / 250, (i * 7919) % 250)),"
        " (SELECT bin FROM addr WHERE text = printf('198.51.100.%d', i % 200))"
        " FROM c";
    if (!db.exec("BEGIN; " + rows + "; COMMIT;")) std::abort();
    // The reasons' index, as the writer fills it (one row per reason: class and rule), where the
    // schema has it (version 12; an older build of this bench measures the LIKE it replaced).
    if (db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'report_reasons'").value_or(0) == 1 &&
        !db.exec("INSERT INTO report_reasons(report_id, class, rule) SELECT id, reasons, 'syn-only' FROM reports"
                 " WHERE reasons <> ''"))
      std::abort();
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

// The summary narrowed by one of the page's filters, computed from the matching reports (the
// roll-ups hold no filter): filter F = 0 one key of 100 (1% of the reports), 1 one victim address
// of 200 (0.5%), 2 class=SUSPICIOUS (10%), 3 reason=syn-flood (the same 10%, by the index
// report_reasons), 4 reason=syn-only (the same, by the rule's name); range as BM_Summary's. The ratio to BM_Summary at the same range is the figure.
void BM_SummaryNarrowed(benchmark::State& state) {
  Db& d = db();
  store::SummaryQuery q;
  q.my_prefixes = d.mine;
  switch (state.range(0)) {
    case 0: q.filter.key = std::string(63, '0') + "5"; break;
    case 1: q.filter.daddr = *receive::Cidr::parse("198.51.100.7/32"); break;
    case 2: q.filter.report_class = "SUSPICIOUS"; break;
    case 3: q.filter.reason = "syn-flood"; break;
    default: q.filter.reason = "syn-only"; break;
  }
  if (state.range(1) == 1) q.since = static_cast<double>(kNowMs) / 1000.0 - 3600;
  if (state.range(1) == 2) q.since = static_cast<double>(kNowMs) / 1000.0 - 86'400;
  if (state.range(1) != 0) q.until = static_cast<double>(kNowMs) / 1000.0;
  std::int64_t total = 0;
  for (auto _ : state) {
    const auto out = d.queries->summary(q);
    if (!out.contains("totals")) state.SkipWithError(out.dump().substr(0, 200).c_str());
    else total = out["totals"]["reports"].get<std::int64_t>();
    benchmark::DoNotOptimize(total);
  }
  state.counters["reports_in_range"] = static_cast<double>(total);
}
BENCHMARK(BM_SummaryNarrowed)->ArgNames({"filter", "range"})->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

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
