// Right spoofing answers (issue 12 finding 2): the spoofing view counts every report from my
// prefixes in its time range, not the newest N; my own exports' flows are persisted and bounded;
// stored suspects that my exports later clear leave the spoof.suspect counter.
#include <gtest/gtest.h>

#include "receive/receive_test_util.hpp"
#include "receive/spoof_window.hpp"
#include "store/queries.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;
using namespace testing;

struct SpoofingView : StoreFixture {
  std::unique_ptr<SqliteQueries> q;
  void open_queries() {
    auto opened = SqliteQueries::open(t.path());
    ASSERT_TRUE(opened) << opened.error();
    q = std::move(*opened);
  }
  // A report from my prefix 192.0.2.0/24 (source port `sport`) stored with verdict `st`.
  static Item report(std::uint16_t sport, SpoofStatus st, std::int64_t received_ns = kNow) {
    FlowSpec f;
    f.saddr = "192.0.2.9";
    f.sport = sport;
    Item i = item(signed_report(key(3), "noc@t.example", "T", f).line, Input::udp, received_ns);
    i.spoof = st;
    return i;
  }
  static SpoofQuery mine() {
    SpoofQuery sq;
    sq.my_prefixes = {*Cidr::parse("192.0.2.0/24")};
    return sq;
  }
};

TEST_F(SpoofingView, TwoThousandOrdinaryReportsDoNotHideTwelveSuspects) {
  open();
  std::vector<Item> items;
  for (std::uint16_t i = 0; i < 12; ++i) items.push_back(report(static_cast<std::uint16_t>(10'000 + i), SpoofStatus::suspect));
  for (std::uint16_t i = 0; i < 2100; ++i) items.push_back(report(static_cast<std::uint16_t>(20'000 + i), SpoofStatus::seen));
  write(std::move(items));
  open_queries();
  const auto out = q->spoofing(mine(), {});
  EXPECT_EQ(out["counts"]["suspect"], 12) << out["counts"].dump();
  EXPECT_EQ(out["counts"]["seen"], 2100);
  EXPECT_EQ(out["suspects"].size(), 12u);
  EXPECT_EQ(out["judged"], 12) << "seen verdicts are counted by the index, not walked";
  EXPECT_TRUE(out["judged_all"].get<bool>());
  // The old view's limit (the newest 2,000) would have found none: every suspect is older.
  EXPECT_LT(out["suspects"][0]["id"].get<std::int64_t>(), 2100);
}

TEST_F(SpoofingView, CountsOnlyTheReportsInItsTimeRange) {
  open();
  write({report(1, SpoofStatus::suspect, kNow - 3'600'000'000'000), report(2, SpoofStatus::suspect, kNow),
         report(3, SpoofStatus::seen, kNow)});
  open_queries();
  auto sq = mine();
  sq.since = static_cast<double>(kNow / 1'000'000'000 - 60);
  const auto out = q->spoofing(sq, {});
  EXPECT_EQ(out["counts"]["suspect"], 1);
  EXPECT_EQ(out["counts"]["seen"], 1);
  ASSERT_EQ(out["suspects"].size(), 1u);
  EXPECT_EQ(out["suspects"][0]["flow"]["sport"], 2);
  sq.since.reset();
  EXPECT_EQ(q->spoofing(sq, {})["counts"]["suspect"], 2);
}

TEST_F(SpoofingView, ARecheckThatClearsAVerdictCountsItSeen) {
  open();
  write({report(1, SpoofStatus::suspect), report(2, SpoofStatus::unknown)});
  open_queries();
  const auto out = q->spoofing(mine(), [](const FlowTuple& flow, std::int64_t, std::int64_t, SpoofStatus stored) {
    return flow.sport == 1 ? SpoofStatus::seen : stored;
  });
  EXPECT_EQ(out["counts"], (nlohmann::json{{"seen", 1}, {"suspect", 0}, {"unknown", 1}}));
}

TEST_F(SpoofingView, StoredSuspectsClearedLaterLeaveTheSuspectCounter) {
  open();
  write({report(1, SpoofStatus::suspect), report(2, SpoofStatus::suspect), report(3, SpoofStatus::seen)});
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'spoof.suspect'"), 2);
  // My exports caught up with the flow from port 1.
  auto cleared = s->rejudge_suspects([](const ReportFields& f) { return f.sport == 1 ? SpoofStatus::seen : SpoofStatus::suspect; },
                                     kNow - 1, 100);
  ASSERT_TRUE(cleared) << cleared.error();
  EXPECT_EQ(*cleared, 1);
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'spoof.suspect'"), 1);
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'spoof.cleared'"), 1);
  EXPECT_EQ(n("SELECT spoof FROM reports WHERE sport = 1"), 0);
  EXPECT_EQ(n("SELECT spoof FROM reports WHERE sport = 2"), 1);
}

TEST_F(SpoofingView, OwnFlowsArePersistedBoundedAndRestoredIntoAWindow) {
  open();
  constexpr std::int64_t kT = 1'700'000'000'000;
  std::vector<OwnFlow> flows;
  for (std::uint64_t i = 0; i < 50; ++i) flows.push_back({i * 0x9e3779b97f4a7c15ULL, kT + static_cast<std::int64_t>(i) * 1000});
  flows.push_back({7, kT - 7'200'000});  // two hours older than the newest: beyond a one-hour window
  auto saved = s->save_own_flows(flows, 3'600'000, 40);
  ASSERT_TRUE(saved) << saved.error();
  EXPECT_EQ(*saved, 51);
  EXPECT_EQ(n("SELECT COUNT(*) FROM own_flows"), 40) << "at most max_flows, the oldest gone first";
  EXPECT_EQ(n("SELECT MIN(etime_ms) FROM own_flows"), kT + 10'000);
  // Saving again adds nothing twice.
  saved = s->save_own_flows(std::span(flows).subspan(45, 5), 3'600'000, 40);
  ASSERT_TRUE(saved);
  EXPECT_EQ(*saved, 0);
  // A restart: a new store on the same file refills a window.
  s.reset();
  open();
  SpoofWindowConfig wc;
  wc.max_flows = 1000;
  SpoofWindow w(wc);
  auto loaded = s->load_own_flows([&](const OwnFlow& f) { w.restore(f); });
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(*loaded, 40);
  EXPECT_EQ(w.stats().flows, 40u);
  EXPECT_TRUE(w.take_unsaved().empty()) << "restored flows are not saved again";
}

}  // namespace
}  // namespace overflowd::receive
