// The summaries' roll-ups (store/rollups.hpp; issue 12 findings 4, 5): kept by the writer and by
// retention equal to a recount from the reports (written here by hand, independently of the
// roll-ups' own definitions); implausible flow times are kept out of the charts and listed apart;
// the charts take an explicit range.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "receive/receive_test_util.hpp"
#include "store/queries.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;
using namespace testing;
using nlohmann::json;

constexpr std::int64_t kNowMs = kNow / 1'000'000;

struct Rollups : StoreFixture {
  std::unique_ptr<SqliteQueries> q;
  static StoreConfig config() {
    StoreConfig c;
    c.my_prefixes = {*Cidr::parse("198.51.100.0/24")};
    return c;
  }
  void open_queries() {
    auto opened = SqliteQueries::open(t.path());
    ASSERT_TRUE(opened) << opened.error();
    q = std::move(*opened);
  }
  static Item report(std::uint8_t k, const char* saddr, const char* daddr, std::int64_t stime_ms, std::uint16_t sport,
                     const char* exporter = "203.0.113.1") {
    FlowSpec f;
    f.saddr = saddr;
    f.daddr = daddr;
    f.sport = sport;
    f.exporter = exporter;
    f.stime_ms = stime_ms;
    f.etime_ms = stime_ms + 1000;
    return item(signed_report(key(k), "noc@" + std::to_string(k) + ".example", "Net " + std::to_string(k), f).line);
  }
  // A mixture: three keys, seven sources, two exporters, three hours of flow times, some flows not
  // toward my prefix and some with implausible times.
  void write_mixture(int n, std::uint16_t first_port) {
    static const char* const sources[] = {"203.0.113.1", "203.0.113.2", "203.0.113.3", "2001:db8::7",
                                          "203.0.113.5", "203.0.113.6", "203.0.113.7"};
    std::vector<Item> items;
    for (int i = 0; i < n; ++i) {
      const char* daddr = i % 11 == 0 ? "192.0.2.77" : (i % 2 ? "198.51.100.7" : "198.51.100.200");
      const std::int64_t stime = i % 29 == 0 ? 1000 : kNowMs - (i * 37'000) % (3 * 3'600'000);
      items.push_back(report(static_cast<std::uint8_t>(1 + i % 3), sources[i % 7], daddr, stime,
                             static_cast<std::uint16_t>(first_port + i), i % 5 ? "203.0.113.1" : "203.0.113.2"));
    }
    write(std::move(items));
  }
  using Rows = std::vector<std::vector<std::int64_t>>;
  Rows rows(const std::string& sql) {
    Rows out;
    auto st = s->db().prepare(sql);
    EXPECT_TRUE(st) << sql;
    while (st && st->step() == SQLITE_ROW) {
      std::vector<std::int64_t> r;
      for (int c = 0; c < st->column_count(); ++c) r.push_back(st->is_null(c) ? -1 : st->i64(c));
      out.push_back(std::move(r));
    }
    return out;
  }
  // Each roll-up table against a recount written by hand: mine = text in 198.51.100.0/24, plausible =
  // after 2001 (the mixture's implausible times are 1970).
  void expect_recount() {
    const std::string mine = " FROM reports WHERE (daddr LIKE '198.51.100.%') AND stime > 1000000000000";
    for (const std::int64_t res : {60'000, 3'600'000, 86'400'000}) {
      const std::string r = std::to_string(res), period = "(stime / " + r + ") * " + r;
      EXPECT_EQ(rows("SELECT t, reports, packets, bytes FROM sum_time WHERE res = " + r + " ORDER BY t"),
                rows("SELECT " + period + ", COUNT(*), SUM(pcount), SUM(bcount)" + mine + " GROUP BY 1 ORDER BY 1"))
          << "sum_time at " << res;
      EXPECT_EQ(rows("SELECT t, reports, packets, unicode(key), unicode(email) FROM sum_key WHERE res = " + r +
                     " ORDER BY t, key, email"),
                rows("SELECT " + period + ", COUNT(*), SUM(pcount), unicode(key), unicode(email)" + mine +
                     " GROUP BY 1, key, email ORDER BY 1, key, email"))
          << "sum_key at " << res;
      EXPECT_EQ(rows("SELECT t, reports, bytes, length(saddr) FROM sum_source WHERE res = " + r + " ORDER BY t, saddr"),
                rows("SELECT " + period + ", COUNT(*), SUM(bcount), length(saddr)" + mine + " GROUP BY 1, saddr ORDER BY 1, saddr"))
          << "sum_source at " << res;
      EXPECT_EQ(rows("SELECT t, reports, length(exporter) FROM sum_path WHERE res = " + r + " ORDER BY saddr, t, key, exporter"),
                rows("SELECT " + period + ", COUNT(*), length(exporter)" + mine +
                     " GROUP BY saddr, 1, key, exporter ORDER BY saddr, 1, key, exporter"))
          << "sum_path at " << res;
    }
  }
};

TEST_F(Rollups, EqualAFullRecountAfterWritesRetentionAndARebuild) {
  StoreConfig c = config();
  c.max_reports = 250;
  open(c);
  write_mixture(200, 1000);
  write_mixture(120, 5000);
  ASSERT_GT(n("SELECT COUNT(*) FROM sum_time"), 3);
  expect_recount();
  // Retention deletes the oldest 70 reports: the roll-ups lose exactly them.
  auto r = s->enforce_retention(kNow);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->reports, 70);
  expect_recount();
  // A rebuild (as when --my-prefix changes) makes the same tables.
  const Rows before = rows("SELECT res, t, reports, packets, bytes FROM sum_time ORDER BY res, t");
  auto rebuilt = s->rebuild_rollups(true);
  ASSERT_TRUE(rebuilt) << rebuilt.error();
  EXPECT_EQ(rows("SELECT res, t, reports, packets, bytes FROM sum_time ORDER BY res, t"), before);
  expect_recount();
}

TEST_F(Rollups, ANewPrefixRebuildsThemAtOpen) {
  open(config());
  write_mixture(60, 1000);
  const auto mine_before = n("SELECT SUM(reports) FROM sum_time WHERE res = 60000");
  s.reset();
  StoreConfig c = config();
  c.my_prefixes.push_back(*Cidr::parse("192.0.2.0/24"));
  open(c);
  EXPECT_GT(n("SELECT SUM(reports) FROM sum_time WHERE res = 60000"), mine_before);
  EXPECT_EQ(n("SELECT SUM(reports) FROM sum_time WHERE res = 60000"),
            n("SELECT COUNT(*) FROM reports WHERE (daddr LIKE '198.51.100.%' OR daddr LIKE '192.0.2.%') AND stime > 1000000000000"));
}

TEST_F(Rollups, ImplausibleTimesStayOutOfTheChartsAndAreListedApart) {
  open(config());
  write({report(1, "203.0.113.9", "198.51.100.7", kNowMs - 60'000, 1), report(1, "203.0.113.9", "198.51.100.7", kNowMs, 2),
         report(2, "203.0.113.9", "198.51.100.7", 1000, 3)});  // a flow "from 1970", validly signed
  open_queries();
  SummaryQuery sq;
  sq.my_prefixes = config().my_prefixes;
  const json sum = q->summary(sq);
  EXPECT_EQ(sum["totals"]["reports"], 2);
  EXPECT_LE(sum["bucket_s"].get<double>(), 60.0) << "one report does not flatten the chart";
  EXPECT_GE(sum["range"]["since"].get<double>(), static_cast<double>(kNowMs / 1000 - 86'400));
  for (const auto& p : sum["series"]) EXPECT_GE(p["t"].get<double>(), static_cast<double>(kNowMs / 1000 - 86'400));
  EXPECT_EQ(sum["flagged"]["reports"], 1);
  ASSERT_EQ(sum["flagged"]["newest"].size(), 1u);
  EXPECT_EQ(sum["flagged"]["newest"][0]["flow"]["stime"], 1000);
}

TEST_F(Rollups, TheSummaryTakesAnExplicitRangeAndAnswersAsARecount) {
  open(config());
  write_mixture(300, 1000);
  open_queries();
  SummaryQuery sq;
  sq.my_prefixes = config().my_prefixes;
  // The last hour, on whole minutes.
  const std::int64_t until_ms = (kNowMs / 60'000) * 60'000 - 1, since_ms = until_ms + 1 - 3'600'000;
  sq.since = static_cast<double>(since_ms) / 1000.0;
  sq.until = static_cast<double>(until_ms) / 1000.0;
  const json sum = q->summary(sq);
  EXPECT_EQ(sum["range"]["resolution_s"], 60);
  const std::string in_range = " FROM reports WHERE daddr LIKE '198.51.100.%' AND stime BETWEEN " +
                               std::to_string(since_ms) + " AND " + std::to_string(until_ms);
  EXPECT_EQ(sum["totals"]["reports"], n("SELECT COUNT(*)" + in_range));
  EXPECT_EQ(sum["totals"]["packets"], n("SELECT SUM(pcount)" + in_range));
  EXPECT_EQ(sum["totals"]["keys"], n("SELECT COUNT(DISTINCT key)" + in_range));
  std::int64_t series = 0;
  for (const auto& p : sum["series"]) series += p["reports"].get<std::int64_t>();
  EXPECT_EQ(series, n("SELECT COUNT(*)" + in_range));
  ASSERT_FALSE(sum["top_sources"].empty());
  const std::string top = sum["top_sources"][0]["saddr"];
  EXPECT_EQ(sum["top_sources"][0]["reports"], n("SELECT COUNT(*)" + in_range + " AND saddr = '" + top + "'"));
  std::int64_t seen_by = 0;
  for (const auto& p : sum["top_sources"][0]["seen_by"]) seen_by += p["reports"].get<std::int64_t>();
  EXPECT_EQ(seen_by, sum["top_sources"][0]["reports"]);
  std::int64_t by_reporters = 0;
  for (const auto& r : sum["reporters"]) by_reporters += r["reports"].get<std::int64_t>();
  EXPECT_EQ(by_reporters, sum["totals"]["reports"]);
}

}  // namespace
}  // namespace overflowd::receive
