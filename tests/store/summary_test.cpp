// The summary (/api/summary): contacts as signed in the reports they come from (issue 12 finding 3).
#include <gtest/gtest.h>

#include "receive/receive_test_util.hpp"
#include "store/queries.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;
using namespace testing;
using nlohmann::json;

struct Summary : StoreFixture {
  std::unique_ptr<SqliteQueries> q;
  void open_queries() {
    auto opened = SqliteQueries::open(t.path());
    ASSERT_TRUE(opened) << opened.error();
    q = std::move(*opened);
  }
  static StoreConfig config() {
    StoreConfig c;
    c.my_prefixes = {*Cidr::parse("198.51.100.0/24")};
    return c;
  }
  static SummaryQuery mine() {
    SummaryQuery sq;
    sq.my_prefixes = {*Cidr::parse("198.51.100.0/24")};
    return sq;
  }
  static Item report(std::uint8_t k, const char* email, const char* identity, const char* saddr, std::uint16_t sport,
                     std::int64_t received_ns = kNow) {
    FlowSpec f;
    f.saddr = saddr;
    f.sport = sport;
    return item(signed_report(key(k), email, identity, f).line, Input::udp, received_ns);
  }
};

TEST_F(Summary, ContactsAreShownAsSignedInTheReportsTheyComeFromWithTheKeysOthersBeside) {
  open(config());
  // Key 1 reported three flows as "Old Net", then changed its contact and reported one as "New Net".
  write({report(1, "noc@old.example", "Old Net", "203.0.113.5", 1), report(1, "noc@old.example", "Old Net", "203.0.113.5", 2),
         report(1, "noc@old.example", "Old Net", "203.0.113.6", 3)});
  write({report(1, "noc@new.example", "New Net", "203.0.113.6", 4, kNow + 1'000'000'000)});
  open_queries();
  const json sum = q->summary(mine());
  ASSERT_EQ(sum["reporters"].size(), 2u) << sum["reporters"].dump();
  std::map<std::string, std::int64_t> by_identity;
  for (const auto& r : sum["reporters"]) {
    by_identity[r["contact"]["identity"]] = r["reports"];
    ASSERT_EQ(r["other_contacts"].size(), 1u);
    EXPECT_NE(r["other_contacts"][0]["identity"], r["contact"]["identity"]);
  }
  EXPECT_EQ(by_identity, (std::map<std::string, std::int64_t>{{"Old Net", 3}, {"New Net", 1}}));
  // The path of 203.0.113.5 names the contact signed into its reports, not the key's latest.
  for (const auto& src : sum["top_sources"]) {
    if (src["saddr"] != "203.0.113.5") continue;
    ASSERT_EQ(src["seen_by"].size(), 1u);
    EXPECT_EQ(src["seen_by"][0]["contact"]["identity"], "Old Net");
    EXPECT_EQ(src["seen_by"][0]["other_contacts"][0]["identity"], "New Net");
  }
}

TEST_F(Summary, EveryTopSourceListsTheNetworksOnItsPathNotOnlyTheFirst) {
  open(config());
  // Three sources, each reported by its own key (fewer reports for each next one: a fixed order).
  std::vector<Item> items;
  for (int i = 0; i < 3; ++i) items.push_back(report(1, "noc@a.example", "A Net", "203.0.113.1", static_cast<std::uint16_t>(10 + i)));
  for (int i = 0; i < 2; ++i) items.push_back(report(2, "noc@b.example", "B Net", "203.0.113.2", static_cast<std::uint16_t>(20 + i)));
  items.push_back(report(3, "noc@c.example", "C Net", "203.0.113.3", 30));
  write(std::move(items));
  open_queries();
  const json sum = q->summary(mine());
  ASSERT_EQ(sum["top_sources"].size(), 3u) << sum.dump();
  std::map<std::string, std::string> path;
  for (const auto& src : sum["top_sources"]) {
    ASSERT_EQ(src["seen_by"].size(), 1u) << src.dump();
    EXPECT_EQ(src["keys"], 1);
    path[src["saddr"]] = src["seen_by"][0]["contact"]["identity"];
  }
  EXPECT_EQ(path, (std::map<std::string, std::string>{{"203.0.113.1", "A Net"}, {"203.0.113.2", "B Net"}, {"203.0.113.3", "C Net"}}));
}

}  // namespace
}  // namespace overflowd::receive
