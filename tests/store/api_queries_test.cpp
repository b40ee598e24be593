// The API's queries (issue 13 item 7): read connections of their own, so a slow query holds only
// its own; a time limit per query; /api/keys reads each key's alert count from its row.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "receive/receive_test_util.hpp"
#include "store/queries.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;
using namespace testing;
using nlohmann::json;

struct ApiQueries : StoreFixture {
  void fill(int n) {
    std::vector<Item> items;
    for (int i = 0; i < n; ++i) {
      FlowSpec f;
      f.saddr = "192.0.2.9";
      f.sport = static_cast<std::uint16_t>(1000 + i);
      items.push_back(item(signed_report(key(1), "a@b", "A", f).line));
      items.back().spoof = SpoofStatus::unknown;
    }
    write(std::move(items));
  }
  static SpoofQuery mine() {
    SpoofQuery q;
    q.my_prefixes = {*Cidr::parse("192.0.2.0/24")};
    return q;
  }
};

TEST_F(ApiQueries, ASlowQueryHoldsOnlyItsOwnConnection) {
  open();
  fill(20);
  auto q = SqliteQueries::open(t.path(), 2, std::chrono::seconds(30));
  ASSERT_TRUE(q) << q.error();
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::atomic<bool> first = true;
  // A spoofing view whose re-judging waits until released: it holds a connection meanwhile.
  auto slow = std::async(std::launch::async, [&] {
    return (*q)->spoofing(mine(), [&](const FlowTuple&, std::int64_t, std::int64_t, SpoofStatus st) {
      if (first.exchange(false)) {
        entered.set_value();
        released.wait();
      }
      return st;
    });
  });
  entered.get_future().wait();
  // Meanwhile other requests are answered.
  EXPECT_EQ((*q)->counters()["rows"]["reports"], 20);
  EXPECT_EQ((*q)->reports({})["reports"].size(), 20u);
  release.set_value();
  EXPECT_EQ(slow.get()["counts"]["unknown"], 20);
}

TEST_F(ApiQueries, AQueryPastItsTimeLimitIsInterruptedWithAnError) {
  open();
  fill(1000);
  auto q = SqliteQueries::open(t.path(), 1, std::chrono::milliseconds(100));
  ASSERT_TRUE(q) << q.error();
  const auto start = std::chrono::steady_clock::now();
  const json out = (*q)->spoofing(mine(), [](const FlowTuple&, std::int64_t, std::int64_t, SpoofStatus st) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // 1,000 rows: five seconds in all
    return st;
  });
  EXPECT_TRUE(out.contains("error")) << out.dump().substr(0, 300);
  EXPECT_TRUE(out.value("timed_out", false));
  // Far below the whole query's 5 s, far above the 100 ms limit (a loaded sanitizer build).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4)) << "stopped early";
  // The connection serves the next request.
  EXPECT_EQ((*q)->counters()["rows"]["reports"], 1000);
}

TEST_F(ApiQueries, KeysShowTheirAlertCountFromTheKeyRow) {
  open();
  write({item(signed_report(key(2), "one@x", "X").line)});
  FlowSpec f;
  f.sport = 2;
  write({item(signed_report(key(2), "two@x", "X", f).line)});  // a contact change: one alert
  auto q = SqliteQueries::open(t.path());
  ASSERT_TRUE(q);
  const json keys = (*q)->keys("", 10)["keys"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["alerts"], n("SELECT COUNT(*) FROM alerts"));
  EXPECT_EQ(keys[0]["alerts"], 1);
}

}  // namespace
}  // namespace overflowd::receive
