// Reports stored per second by the receiver's store (issue 18 item 3): SQLite (one writer, the
// default) against PostgreSQL written by 1 and by 2 receivers at once (each its own PgStore, its
// own connection and its own reports, as two receivers at two border points), side by side in one
// run. Each iteration stores the same 20,000 verified reports (100 keys, each its own contact) in
// batches of 1,000 (as the writer commits) into a fresh database; both stores durable (SQLite
// synchronous=FULL, PostgreSQL fsync and synchronous_commit on).
//   BM_StoreSqlite
//   BM_StorePostgres/receivers:N   N = 1, 2 (needs OVERFLOWD_BENCH_PG_URL: bench/store_postgres.sh
//                                  makes a cluster in a temporary folder and sets it)
// Counters: reports_per_s (wall time: the figure for a shared database is its total throughput);
// reports_per_cpu_s, the reports over the CPU time spent storing them: this process's, and on
// PostgreSQL its server processes' too (each store's backend, read from /proc/PID/stat: the
// cluster runs on this machine), the figure that holds on a loaded machine.
// Run: bench/store_postgres.sh [BUILD_DIR] [REPETITIONS]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <time.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/flow_record.hpp"
#include "receive/ingest.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "store/pg_store.hpp"
#include "store/store.hpp"

namespace {

using namespace overflowd;

constexpr std::size_t kBatch = 1000;
constexpr std::size_t kReports = 20'000;
constexpr std::size_t kKeys = 100;
constexpr std::int64_t kNow = 1'750'000'000LL * 1'000'000'000;

const std::vector<receive::Item>& items() {
  static const std::vector<receive::Item> all = [] {
    std::vector<receive::Item> out;
    out.reserve(kReports);
    std::vector<report::Signer> signers;
    for (std::size_t k = 0; k < kKeys; ++k) {
      report::Seed seed{};
      seed[0] = static_cast<std::uint8_t>(k + 1);
      seed[31] = 0x5b;
      signers.emplace_back(report::keypair_from_seed(seed));
    }
    std::string message;
    for (std::size_t i = 0; i < kReports; ++i) {
      const std::size_t k = i % kKeys;
      report::ReportBuilder builder(
          report::ReportConfig{report::Contact{"noc@net" + std::to_string(k) + ".example", "Net " + std::to_string(k)}});
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
      out.push_back(receive::Item{receive::Arrival{receive::Input::udp, "127.0.0.1", kNow + static_cast<std::int64_t>(i)},
                                  receive::ingest(r.line, kNow, receive::SkewPolicy{}), receive::SpoofStatus::not_mine});
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

// The CPU time (user + system) of another process of this machine: a PostgreSQL backend.
double pid_cpu_s(int pid) {
  std::string stat(4096, '\0');
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  stat.resize(std::fread(stat.data(), 1, stat.size(), f));
  std::fclose(f);
  const auto paren = stat.rfind(')');  // the command may hold spaces: fields counted after it
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state; 14 utime, 15 stime
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void BM_StoreSqlite(benchmark::State& state) {
  const auto& all = items();
  std::int64_t stored = 0;
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::string tmpl = (std::filesystem::temp_directory_path() / "overflowd-store-bench-XXXXXX").string();
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
BENCHMARK(BM_StoreSqlite)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

void BM_StorePostgres(benchmark::State& state) {
  const char* url = std::getenv("OVERFLOWD_BENCH_PG_URL");  // postgresql:///postgres?host=...
  if (!url) {
    state.SkipWithError("OVERFLOWD_BENCH_PG_URL is not set: run bench/store_postgres.sh");
    return;
  }
  const auto receivers = static_cast<std::size_t>(state.range(0));
  const auto& all = items();
  auto admin = store::pg::Db::open(url);
  if (!admin) {
    state.SkipWithError(admin.error().c_str());
    return;
  }
  std::atomic<std::int64_t> stored{0};
  double cpu = 0;
  int round = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string name = "bench_" + std::to_string(::getpid()) + "_" + std::to_string(receivers) + "_" + std::to_string(++round);
    (void)admin->exec_native("DROP DATABASE IF EXISTS " + name);
    if (auto r = admin->exec_native("CREATE DATABASE " + name); !r) {
      state.SkipWithError(r.error().c_str());
      break;
    }
    std::string db_url(url);
    db_url.replace(db_url.find("///") + 3, db_url.find('?') - db_url.find("///") - 3, name);
    std::vector<std::unique_ptr<store::PgStore>> stores;
    for (std::size_t w = 0; w < receivers; ++w) {
      store::StoreConfig c;
      c.path = db_url;
      auto s = store::PgStore::open(c);
      if (!s) {
        state.SkipWithError(s.error().c_str());
        return;
      }
      stores.push_back(std::move(*s));
    }
    // Receiver w stores reports w, w + N, ...: its own, in batches of kBatch.
    std::vector<std::vector<receive::Item>> own(receivers);
    for (std::size_t i = 0; i < all.size(); ++i) own[i % receivers].push_back(all[i]);
    auto all_cpu = [&] {
      double s = process_cpu_s();
      for (const auto& st : stores) s += pid_cpu_s(PQbackendPID(st->db().handle()));
      return s;
    };
    state.ResumeTiming();
    const double start = all_cpu();
    std::vector<std::jthread> threads;
    for (std::size_t w = 0; w < receivers; ++w)
      threads.emplace_back([&, w] {
        const auto& mine = own[w];
        for (std::size_t at = 0; at < mine.size(); at += kBatch) {
          auto r = stores[w]->write(std::span(mine).subspan(at, std::min(kBatch, mine.size() - at)));
          if (r) stored += static_cast<std::int64_t>(r->stored);
        }
      });
    threads.clear();
    cpu += all_cpu() - start;
    state.PauseTiming();
    stores.clear();
    (void)admin->exec_native("DROP DATABASE IF EXISTS " + name);
    state.ResumeTiming();
  }
  state.counters["reports_per_s"] = benchmark::Counter(static_cast<double>(stored.load()), benchmark::Counter::kIsRate);
  state.counters["reports_per_cpu_s"] = static_cast<double>(stored.load()) / cpu;
}
BENCHMARK(BM_StorePostgres)->ArgName("receivers")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

}  // namespace
