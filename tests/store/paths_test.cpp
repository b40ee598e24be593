// /api/paths' query (issue 19), SqliteQueries::paths: coherent reports of one flow from several
// keys become one path; hops are ordered by next hop when they chain (whatever their start times),
// else by start time; a flow under one key, a report not coherent alone, and another start-time
// bucket make no path of their own; min_keys and the receive time range hold.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "receive/ingest.hpp"
#include "receive/receive_test_util.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "store/queries.hpp"
#include "store/store.hpp"

namespace overflowd::receive {
namespace {

using nlohmann::json;
using testing::kNow;

core::FlowRecord flow(std::string_view src, std::string_view exporter, std::string_view nexthop, std::int64_t stime_ms) {
  core::FlowRecord f;
  f.src = *core::IpAddress::parse(src);
  f.dst = *core::IpAddress::parse("198.51.100.20");
  f.exporter = *core::IpAddress::parse(exporter);
  f.nexthop = *core::IpAddress::parse(nexthop);
  f.pcount = 10;
  f.bcount = 1000;
  f.stime_ms = stime_ms;
  f.etime_ms = stime_ms + 1000;
  f.sport = 5353;
  f.dport = 53;
  f.protocol = 17;
  f.sampling_interval = 1;
  f.fields = ~std::uint32_t{0};
  return f;
}

class Paths : public ::testing::Test {
protected:
  void SetUp() override {
    store::StoreConfig sc;
    sc.path = db_.path();
    auto s = store::SqliteStore::open(sc);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
  }
  // A report of `f` signed by key n, coherent or not, received at `received_ns`.
  void add(int n, const core::FlowRecord& f, bool coherent, std::int64_t received_ns = kNow) {
    report::ReportBuilder builder(report::ReportConfig{report::Contact{"noc" + std::to_string(n) + "@x.example", "Net"}});
    std::string message;
    builder.build(f, kNow, message, {}, coherent);
    report::Signer signer(testing::key(static_cast<std::uint8_t>(40 + n)));
    report::SignedReport signed_report;
    signer.sign(message, signed_report);
    const Item item{Arrival{Input::udp, "127.0.0.1", received_ns}, ingest(signed_report.line, kNow, SkewPolicy{}),
                    SpoofStatus::not_mine};
    ASSERT_TRUE(store_->write(std::span(&item, 1)));
  }
  json paths(const store::PathQuery& q = {}) {
    auto queries = store::SqliteQueries::open(db_.path());
    EXPECT_TRUE(queries) << queries.error();
    return (*queries)->paths(q);
  }

  testing::TempDb db_;
  std::unique_ptr<store::SqliteStore> store_;
};

const std::int64_t kBucket = kNow / 1'000'000 / 60'000 * 60'000;  // a start-time bucket, ms

TEST_F(Paths, HopsFollowTheNextHopsWhenTheyChain) {
  // Downstream first in time and in arrival: the next hops say otherwise.
  add(2, flow("192.0.2.10", "203.0.113.3", "0.0.0.0", kBucket + 1000), true);
  add(0, flow("192.0.2.10", "203.0.113.1", "203.0.113.2", kBucket + 3000), true);
  add(1, flow("192.0.2.10", "203.0.113.2", "203.0.113.3", kBucket + 2000), true);
  const json out = paths();
  ASSERT_EQ(out["paths"].size(), 1u) << out.dump();
  const json& p = out["paths"][0];
  EXPECT_EQ(p["order"], "nexthop");
  EXPECT_EQ(p["keys"], 3);
  EXPECT_EQ(p["bucket_start"], kBucket);
  EXPECT_EQ(p["flow"]["saddr"], "192.0.2.10");
  EXPECT_EQ(p["flow"]["dport"], 53);
  ASSERT_EQ(p["hops"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(p["hops"][i]["flow"]["exporter"], "203.0.113." + std::to_string(i + 1));
    EXPECT_EQ(p["hops"][i]["contact"]["email"], "noc" + std::to_string(i) + "@x.example");
    EXPECT_EQ(p["hops"][i]["coherent"], true);
  }
}

TEST_F(Paths, ByTimeOtherwiseAndOnlyFlowsUnderTwoKeys) {
  // One flow under two keys, unchained: by start time. A private (not coherent) report of it by a
  // third key joins it as a hop.
  add(0, flow("192.0.2.20", "203.0.113.1", "0.0.0.0", kBucket + 5000), true);
  add(1, flow("192.0.2.20", "203.0.113.2", "0.0.0.0", kBucket + 4000), true);
  add(2, flow("192.0.2.20", "203.0.113.3", "0.0.0.0", kBucket + 6000), false);
  // Another flow under one key; the same 5-tuple in the next bucket under one key; a flow whose
  // second report is not coherent.
  add(0, flow("192.0.2.21", "203.0.113.1", "0.0.0.0", kBucket + 5000), true);
  add(1, flow("192.0.2.20", "203.0.113.2", "0.0.0.0", kBucket + 65'000), true);
  add(0, flow("192.0.2.22", "203.0.113.1", "0.0.0.0", kBucket + 5000), true);
  add(1, flow("192.0.2.22", "203.0.113.2", "0.0.0.0", kBucket + 5000), false);
  json out = paths();
  ASSERT_EQ(out["paths"].size(), 1u) << out.dump();
  const json& p = out["paths"][0];
  EXPECT_EQ(p["order"], "time");
  EXPECT_EQ(p["keys"], 2);
  ASSERT_EQ(p["hops"].size(), 3u);
  EXPECT_EQ(p["hops"][0]["flow"]["exporter"], "203.0.113.2");
  EXPECT_EQ(p["hops"][1]["flow"]["exporter"], "203.0.113.1");
  EXPECT_EQ(p["hops"][2]["coherent"], false);
  // min_keys = 1: every coherent flow and bucket is a path (4 of them).
  store::PathQuery one;
  one.min_keys = 1;
  EXPECT_EQ(paths(one)["paths"].size(), 4u);
  // A receive time range that holds none of them.
  store::PathQuery later;
  later.since = static_cast<double>(kNow) / 1e9 + 10;
  EXPECT_EQ(paths(later)["paths"].size(), 0u);
}

}  // namespace
}  // namespace overflowd::receive
