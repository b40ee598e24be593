// The summary narrowed by the page's filters (issue 12, the page's remainder): every part of it
// (totals, series, reporters, top sources and their paths, flagged) counts only the matching
// reports; narrowed to everything, it equals the roll-ups' answer; each reporter has its own series
// from the roll-up sum_key; a page holding the answer's version is told "unchanged"; a query past
// the time limit says so (the API answers 503); reports filter by a reason's class or rule name.
#include <gtest/gtest.h>

#include <map>
#include <span>

#include "policy/policy.hpp"
#include "receive/receive_test_util.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "store/queries.hpp"
#include "store/queries_impl.hpp"
#include "store/rollups.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;
using namespace testing;
using nlohmann::json;

constexpr const char* kMine = "198.51.100.0/24";

// A report as signed_report makes it, with the suspicion policy's reasons (SUSPICIOUS when any).
std::string report_line(std::uint8_t k, const char* identity, const char* saddr, const char* daddr, std::uint16_t sport,
                        std::int64_t stime_ms, std::span<const policy::Reason> reasons = {}) {
  core::FlowRecord f;
  f.src = *core::IpAddress::parse(saddr);
  f.dst = *core::IpAddress::parse(daddr);
  f.exporter = *core::IpAddress::parse("203.0.113.1");
  f.nexthop = core::IpAddress::v4(0);
  f.sport = sport;
  f.dport = 80;
  f.protocol = 6;
  f.pcount = 10 + sport % 7;
  f.bcount = 1000;
  f.stime_ms = stime_ms;
  f.etime_ms = stime_ms + 1000;
  f.source_version = 5;
  f.fields = core::kNetflowV5Fields;
  report::ReportBuilder builder(report::ReportConfig{report::Contact{std::string("noc@") + identity + ".example", identity}});
  std::string message;
  builder.build(f, kNow, message, reasons, false);
  report::Signer signer(key(k));
  report::SignedReport out;
  signer.sign(message, out);
  return out.line;
}

struct SummaryFilter : StoreFixture {
  std::unique_ptr<SqliteQueries> q;
  void open_queries(std::chrono::milliseconds limit = std::chrono::seconds(2)) {
    auto opened = SqliteQueries::open(t.path(), 2, limit);
    ASSERT_TRUE(opened) << opened.error();
    q = std::move(*opened);
  }
  static SummaryQuery mine() {
    SummaryQuery sq;
    sq.my_prefixes = {*Cidr::parse(kMine)};
    return sq;
  }
  // Alpha (key 1): 30 flows toward .1 from 10 sources over 30 minutes; Bravo (key 2): 8 toward .2
  // from 192.0.2.50, 3 of them SUSPICIOUS (syn-flood, rule "syn-only"); one flow of 1970 (flagged).
  void fill() {
    StoreConfig c;
    c.my_prefixes = {*Cidr::parse(kMine)};
    open(c);
    const std::int64_t now_ms = kNow / 1'000'000;
    const policy::Reason syn[] = {{policy::ReasonClass::syn_flood, "syn-only", ""}};
    std::vector<Item> items;
    for (int i = 0; i < 30; ++i) {
      const std::string src = "192.0.2." + std::to_string(1 + i % 10);
      items.push_back(item(report_line(1, "Alpha", src.c_str(), "198.51.100.1", static_cast<std::uint16_t>(1000 + i), now_ms - 1'800'000 + i * 60'000)));
    }
    for (int i = 0; i < 8; ++i)
      items.push_back(item(report_line(2, "Bravo", "192.0.2.50", "198.51.100.2", static_cast<std::uint16_t>(2000 + i), now_ms - 600'000 + i * 1000,
                                       i < 3 ? std::span<const policy::Reason>(syn) : std::span<const policy::Reason>())));
    items.push_back(item(report_line(2, "Bravo", "192.0.2.51", "198.51.100.2", 3000, 1'000'000)));
    write(std::move(items));
    open_queries();
  }
  static std::int64_t sum_of(const json& points, const char* what) {
    std::int64_t n = 0;
    for (const auto& p : points) n += p[what].get<std::int64_t>();
    return n;
  }
};

TEST_F(SummaryFilter, NarrowedToEverythingItEqualsTheRollUps) {
  fill();
  SummaryQuery all = mine();
  SummaryQuery everything = mine();
  everything.filter.daddr = *Cidr::parse(kMine);
  json a = q->summary(all), b = q->summary(everything);
  ASSERT_FALSE(a.contains("error")) << a.dump();
  ASSERT_FALSE(b.contains("error")) << b.dump();
  EXPECT_FALSE(a["narrowed"]);
  EXPECT_FALSE(b["narrowed"]) << "a victim filter holding every prefix of mine: the roll-ups answer";
  // Narrowed to everything by a filter the roll-ups cannot answer (a source prefix holding every
  // source): the same figures, computed from the reports.
  everything.filter.daddr.reset();
  everything.filter.saddr = *Cidr::parse("192.0.2.0/24");
  b = q->summary(everything);
  ASSERT_FALSE(b.contains("error")) << b.dump();
  EXPECT_TRUE(b["narrowed"]);
  for (const char* part : {"totals", "series", "reporters", "top_sources", "range", "bucket_s", "flagged"})
    EXPECT_EQ(a[part], b[part]) << part;
  EXPECT_EQ(a["totals"]["reports"], 38);
}

TEST_F(SummaryFilter, EveryPartCountsOnlyTheMatchingReports) {
  fill();
  auto narrowed = [&](auto set) {
    SummaryQuery sq = mine();
    set(sq.filter);
    json out = q->summary(sq);
    EXPECT_FALSE(out.contains("error")) << out.dump();
    return out;
  };
  // The victim address: Bravo's 8 only, one source, one reporter; the 1970 one flagged.
  json v = narrowed([](Narrowing& n) { n.daddr = *Cidr::parse("198.51.100.2"); });
  EXPECT_EQ(v["totals"]["reports"], 8);
  EXPECT_EQ(v["totals"]["keys"], 1);
  ASSERT_EQ(v["reporters"].size(), 1u);
  EXPECT_EQ(v["reporters"][0]["contact"]["identity"], "Bravo");
  ASSERT_EQ(v["top_sources"].size(), 1u);
  EXPECT_EQ(v["top_sources"][0]["saddr"], "192.0.2.50");
  EXPECT_EQ(v["top_sources"][0]["seen_by"][0]["reports"], 8);
  EXPECT_EQ(sum_of(v["series"], "reports"), 8);
  EXPECT_EQ(v["flagged"]["reports"], 1);
  // The class: Bravo's 3 SUSPICIOUS; nothing flagged among them.
  json c = narrowed([](Narrowing& n) { n.report_class = "SUSPICIOUS"; });
  EXPECT_EQ(c["totals"]["reports"], 3);
  EXPECT_EQ(c["flagged"]["reports"], 0);
  // A reason, by its class and by its rule's name.
  EXPECT_EQ(narrowed([](Narrowing& n) { n.reason = "syn-flood"; })["totals"]["reports"], 3);
  EXPECT_EQ(narrowed([](Narrowing& n) { n.reason = "syn-only"; })["totals"]["reports"], 3);
  EXPECT_EQ(narrowed([](Narrowing& n) { n.reason = "syn"; })["totals"]["reports"], 0);
  // The key: Alpha's 30, from 10 sources.
  json k = narrowed([](Narrowing& n) { n.key = report::public_key_hex(key(1)); });
  EXPECT_EQ(k["totals"]["reports"], 30);
  EXPECT_EQ(k["top_sources"].size(), 10u);
  EXPECT_EQ(k["flagged"]["reports"], 0);
  // A source prefix: 192.0.2.1 and .2 (Alpha's 3 each).
  json by_source = narrowed([](Narrowing& n) { n.saddr = *Cidr::parse("192.0.2.0/31"); });
  EXPECT_EQ(by_source["totals"]["reports"], 3);  // .0 and .1: only .1 reported
  json s2 = narrowed([](Narrowing& n) { n.saddr = *Cidr::parse("192.0.2.2"); });
  EXPECT_EQ(s2["totals"]["reports"], 3);
  EXPECT_EQ(s2["reporters"][0]["reports"], 3);
}

TEST_F(SummaryFilter, EachReportingNetworkHasItsSeriesFromTheRollUp) {
  fill();
  json sum = q->summary(mine());
  ASSERT_EQ(sum["reporters"].size(), 2u) << sum.dump();
  for (const auto& r : sum["reporters"]) {
    ASSERT_TRUE(r["series"].is_array()) << r.dump();
    EXPECT_EQ(sum_of(r["series"], "reports"), r["reports"]) << r.dump();
    EXPECT_EQ(sum_of(r["series"], "packets"), r["packets"]) << r.dump();
  }
  // Alpha's 30 flows over 30 minutes fall in more than one bucket; each point is in the range.
  const json& alpha = sum["reporters"][0]["contact"]["identity"] == "Alpha" ? sum["reporters"][0] : sum["reporters"][1];
  EXPECT_GT(alpha["series"].size(), 1u);
  for (const auto& p : alpha["series"]) {
    EXPECT_GE(p["t"].get<double>(), sum["range"]["since"].get<double>());
    EXPECT_LT(p["t"].get<double>(), sum["range"]["until"].get<double>());
  }
}

TEST_F(SummaryFilter, APageHoldingTheVersionIsToldUnchangedUntilAReportArrives) {
  fill();
  SummaryQuery sq = mine();
  sq.since = static_cast<double>(kNow / 1'000'000'000 - 3600);
  sq.until = static_cast<double>(kNow / 1'000'000'000);
  const json first = q->summary(sq);
  ASSERT_TRUE(first.contains("version")) << first.dump();
  sq.unless = first["version"];
  const json again = q->summary(sq);
  EXPECT_EQ(again, (json{{"unchanged", true}, {"version", first["version"]}}));
  write({item(report_line(3, "Charlie", "192.0.2.99", "198.51.100.3", 4000, kNow / 1'000'000 - 60'000))});
  const json changed = q->summary(sq);
  EXPECT_FALSE(changed.contains("unchanged"));
  EXPECT_NE(changed["version"], first["version"]);
  EXPECT_EQ(changed["totals"]["reports"], 39);
  // Another filter is another answer.
  sq.unless = changed["version"];
  EXPECT_TRUE(q->summary(sq).contains("unchanged"));
  SummaryQuery other = sq;
  other.filter.daddr = *Cidr::parse("198.51.100.2");
  EXPECT_FALSE(q->summary(other).contains("unchanged"));
  // Another range is another answer.
  sq.since = *sq.since - 3600;
  EXPECT_FALSE(q->summary(sq).contains("unchanged"));
}

// A narrowed summary reads the reports through the filter's index, not by chart (nearly every
// report is rolled up: 1M rows at 2 s each statement in summary_bench; reports_flagged holds only
// chart = 2).
TEST_F(SummaryFilter, ANarrowedReadTakesTheFiltersIndex) {
  fill();
  Narrowing suspicious;
  suspicious.report_class = "SUSPICIOUS";  // the class filter as narrowed() writes it (reports_class is partial)
  const std::string by_class = queries_impl::narrowed(suspicious, "r.", 10).sql.substr(5);
  for (const auto& [filter, index] : {std::pair{std::string("r.key = ?10"), "reports_key"}, std::pair{std::string("r.daddr_bin BETWEEN ?10 AND ?11"), "reports_daddr"},
                                      std::pair{std::string("r.saddr_bin BETWEEN ?10 AND ?11"), "reports_saddr"}, std::pair{by_class, "reports_class"}}) {
    for (const rollup::Table& table : rollup::tables()) {
      auto plan = s->db().prepare("EXPLAIN QUERY PLAN WITH " + rollup::narrowed(table, std::string("1 = 1 AND ") + filter) +
                                  " SELECT * FROM " + std::string(table.name));
      ASSERT_TRUE(plan) << plan.error();
      std::string text;
      while (plan->step() == SQLITE_ROW) text += plan->text(3) + "\n";
      EXPECT_NE(text.find(index), std::string::npos) << table.name << " " << filter << ":\n" << text;
      EXPECT_EQ(text.find("reports_flagged"), std::string::npos) << table.name << " " << filter << ":\n" << text;
    }
  }
}

// The per-source and per-network statements of a narrowed summary read one source's (one key's)
// reports through that column's index, whatever the filter (the filter's key and class are kept
// off their indexes there), instead of grouping every matching report once per source.
TEST_F(SummaryFilter, NarrowedPerSourceAndPerNetworkReadsTakeTheirOwnIndex) {
  fill();
  Narrowing by_key, by_class;
  by_key.key = std::string(64, 'a');
  by_class.report_class = "SUSPICIOUS";
  for (const Narrowing& n : {by_key, by_class}) {
    const std::string beside = queries_impl::narrowed(n, "r.", 10, true).sql;
    for (const auto& [own, index] : {std::pair{" AND r.saddr = ?4 AND r.saddr_bin = ?8", "reports_saddr"},
                                     std::pair{" AND r.key = ?5 AND r.email = ?6 AND r.identity = ?7", "reports_key"}}) {
      for (const rollup::Table& table : rollup::tables()) {
        auto plan = s->db().prepare("EXPLAIN QUERY PLAN WITH " + rollup::narrowed(table, "1 = 1" + beside + own) +
                                    " SELECT * FROM " + std::string(table.name));
        ASSERT_TRUE(plan) << plan.error();
        std::string text;
        while (plan->step() == SQLITE_ROW) text += plan->text(3) + "\n";
        EXPECT_NE(text.find(index), std::string::npos) << table.name << beside << own << ":\n" << text;
      }
    }
  }
}

// Narrowed, the totals, the series and its keys per bucket are summed from the networks' series
// (one pass): the same figures as the roll-ups', with the reporters listed whole or cut to one.
TEST_F(SummaryFilter, NarrowedTotalsAgreeWhetherTheReportersAreAllListedOrNot) {
  fill();
  for (const std::int64_t top : {20, 1}) {
    SummaryQuery all = mine(), everything = mine();
    all.top = everything.top = top;
    everything.filter.saddr = *Cidr::parse("192.0.2.0/24");
    const json a = q->summary(all), b = q->summary(everything);
    ASSERT_TRUE(b["narrowed"]);
    EXPECT_EQ(a["totals"], b["totals"]) << "top " << top;
    EXPECT_EQ(a["series"], b["series"]) << "top " << top;
    EXPECT_EQ(b["totals"]["keys"], 2) << "top " << top;
    EXPECT_EQ(a["reporters"], b["reporters"]) << "top " << top;
    EXPECT_EQ(a["top_sources"], b["top_sources"]) << "top " << top;
  }
  // One class: Bravo's 3 SUSPICIOUS reports, one key, one source.
  SummaryQuery sus = mine();
  sus.filter.report_class = "SUSPICIOUS";
  const json c = q->summary(sus);
  EXPECT_EQ(c["totals"]["reports"], 3);
  EXPECT_EQ(c["totals"]["keys"], 1);
  ASSERT_EQ(c["top_sources"].size(), 1u);
  EXPECT_EQ(c["top_sources"][0]["keys"], 1);
  EXPECT_EQ(c["top_sources"][0]["seen_by"][0]["reports"], 3);
  ASSERT_EQ(c["reporters"].size(), 1u);
  EXPECT_EQ(sum_of(c["reporters"][0]["series"], "reports"), 3);
}

TEST_F(SummaryFilter, AQueryPastTheTimeLimitSaysSo) {
  fill();
  open_queries(std::chrono::milliseconds(0));
  SummaryQuery sq = mine();
  sq.filter.daddr = *Cidr::parse(kMine);
  const json out = q->summary(sq);
  EXPECT_TRUE(out.value("timed_out", false)) << out.dump().substr(0, 300);
}

TEST_F(SummaryFilter, ReportsFilterByAReasonsClassOrRuleName) {
  fill();
  auto ids = [&](const char* reason) {
    ReportFilter f;
    f.reason = reason;
    const json out = q->reports(f);
    EXPECT_TRUE(out.contains("reports")) << out.dump();
    std::vector<std::string> classes;
    for (const auto& r : out["reports"]) classes.push_back(r["class"]);
    return classes;
  };
  EXPECT_EQ(ids("syn-flood"), std::vector<std::string>(3, "SUSPICIOUS"));
  EXPECT_EQ(ids("syn-only"), std::vector<std::string>(3, "SUSPICIOUS"));
  EXPECT_TRUE(ids("syn_only").empty());  // '_' is not a wildcard
  EXPECT_TRUE(ids("volumetric").empty());
  // With the class beside: the same three.
  ReportFilter f;
  f.reason = "syn-flood";
  f.report_class = "SUSPICIOUS";
  f.daddr = *Cidr::parse("198.51.100.2");
  EXPECT_EQ(q->reports(f)["reports"].size(), 3u);
}

}  // namespace
}  // namespace overflowd::receive
