// What the receiver tells the operator of a committed batch (app/operator_events): the writer's
// observer gets the alerts the store inserted and the stored reports with their spoofing verdicts;
// each new alert and each newly stored suspect becomes one event, duplicates and other verdicts none.
#include "app/operator_events.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "receive/receive_test_util.hpp"
#include "report/keys.hpp"
#include "store/store.hpp"

namespace overflowd::receive {
namespace {

using namespace testing;

struct Recorder final : notify::Notifier {
  std::mutex m;
  std::vector<notify::Event> events;
  void notify(notify::Event e) override {
    std::lock_guard lock(m);
    events.push_back(std::move(e));
  }
};

TEST(OperatorEvents, OneEventPerNewAlertAndPerStoredSuspect) {
  TempDb t;
  store::StoreConfig sc;
  sc.path = t.path();
  sc.retention_s = 0;
  auto s = store::SqliteStore::open(sc);
  ASSERT_TRUE(s) << s.error();
  // Reports from 192.0.2.0/24 are suspects, from elsewhere not mine.
  store::SpoofClassifier classify = [](const ReportFields& f) {
    return f.saddr.to_string().starts_with("192.0.2.") ? SpoofStatus::suspect : SpoofStatus::not_mine;
  };
  store::Writer w(**s, store::WriterConfig{}, classify);
  Recorder rec;
  w.set_observer(app::operator_events(rec).observer);
  w.start();

  const auto k = key(7);
  FlowSpec elsewhere;
  elsewhere.saddr = "203.0.113.9";
  const auto first = signed_report(k, "noc@a.example", "A Net", elsewhere).line;
  ASSERT_TRUE(w.commit({item(first)}, std::chrono::seconds(30)));
  EXPECT_TRUE(rec.events.empty());

  FlowSpec other = elsewhere;
  other.sport = 1;
  FlowSpec spoofed;
  spoofed.saddr = "192.0.2.6";
  spoofed.sport = 2222;
  const auto suspect = signed_report(key(8), "noc@t.example", "T Net", spoofed).line;
  ASSERT_TRUE(w.commit({item(signed_report(k, "takeover@b.example", "A Net", other).line), item(suspect), item(first)},
                       std::chrono::seconds(30)));
  // The same suspect again: a duplicate, not a new suspect.
  ASSERT_TRUE(w.commit({item(suspect)}, std::chrono::seconds(30)));
  w.stop();

  std::lock_guard lock(rec.m);
  ASSERT_EQ(rec.events.size(), 2u);
  const auto alert = nlohmann::json::parse(rec.events[0].json);
  EXPECT_EQ(rec.events[0].type, "alert");
  EXPECT_EQ(alert["type"], "alert");
  EXPECT_EQ(alert["kind"], "contact_changed");
  EXPECT_EQ(alert["key"], report::public_key_hex(k));
  EXPECT_GT(alert["report_id"].get<std::int64_t>(), 0);
  EXPECT_EQ(alert["detail"]["from"]["email"], "noc@a.example");
  EXPECT_EQ(alert["detail"]["to"]["email"], "takeover@b.example");
  EXPECT_NE(rec.events[0].line.find("alert: contact_changed for key " + report::public_key_hex(k)), std::string::npos);

  const auto sus = nlohmann::json::parse(rec.events[1].json);
  EXPECT_EQ(rec.events[1].type, "spoof_suspect");
  EXPECT_EQ(sus["saddr"], "192.0.2.6");
  EXPECT_EQ(sus["daddr"], "198.51.100.7");
  EXPECT_EQ(sus["sport"], 2222);
  EXPECT_EQ(sus["key"], report::public_key_hex(key(8)));
  EXPECT_EQ(sus["email"], "noc@t.example");
  EXPECT_NE(rec.events[1].line.find("spoofing suspect: 192.0.2.6 -> 198.51.100.7"), std::string::npos);
}

// New suspects are told grouped by source (one event per source per window, with a count), not
// one per report: a flood of spoofed reports is a few lines, not thousands.
TEST(OperatorEvents, SuspectsAreToldOncePerSourcePerWindowWithACount) {
  TempDb t;
  store::StoreConfig sc;
  sc.path = t.path();
  sc.retention_s = 0;
  auto s = store::SqliteStore::open(sc);
  ASSERT_TRUE(s) << s.error();
  store::SpoofClassifier classify = [](const ReportFields& f) {
    return f.saddr.to_string().starts_with("192.0.2.") ? SpoofStatus::suspect : SpoofStatus::not_mine;
  };
  store::Writer w(**s, store::WriterConfig{}, classify);
  Recorder rec;
  core::ManualClock clock(kNow);
  w.set_observer(app::operator_events(rec, std::chrono::seconds(60), clock).observer);
  w.start();
  std::uint16_t port = 1000;
  auto from = [&](const char* saddr, int n) {
    std::vector<Item> items;
    for (int i = 0; i < n; ++i) {
      FlowSpec f;
      f.saddr = saddr;
      f.sport = port++;
      items.push_back(item(signed_report(key(9), "noc@t.example", "T Net", f).line));
    }
    return items;
  };
  auto commit = [&](std::vector<Item> items) { ASSERT_TRUE(w.commit(std::move(items), std::chrono::seconds(30))); };
  // The events told so far, once there are `n` (the observer runs on the writer's thread after the
  // commit returns; it runs in commit order, so a later event means the earlier batches are done).
  auto counts = [&](std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);  // TSan at load 30
    std::unique_lock lock(rec.m);
    while (rec.events.size() < n && std::chrono::steady_clock::now() < deadline) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      lock.lock();
    }
    std::vector<std::pair<std::string, std::int64_t>> out;
    for (const auto& e : rec.events) {
      const auto j = nlohmann::json::parse(e.json);
      out.emplace_back(j["saddr"], j["count"]);
    }
    rec.events.clear();
    return out;
  };
  using Told = std::vector<std::pair<std::string, std::int64_t>>;
  // One batch: 5 from .6 and 2 from .7, interleaved: two events, with their counts.
  std::vector<Item> batch = from("192.0.2.6", 3);
  for (auto& i : from("192.0.2.7", 2)) batch.push_back(std::move(i));
  for (auto& i : from("192.0.2.6", 2)) batch.push_back(std::move(i));
  commit(std::move(batch));
  EXPECT_EQ(counts(2), (Told{{"192.0.2.6", 5}, {"192.0.2.7", 2}}));
  // Within the window: held (nothing told), a new source told at once.
  clock.advance_ns(30'000'000'000);
  commit(from("192.0.2.6", 4));
  commit(from("192.0.2.8", 1));
  EXPECT_EQ(counts(1), (Told{{"192.0.2.8", 1}}));
  // The window ended: the first commit after it tells what was held, then .6 opens a new window.
  clock.advance_ns(31'000'000'000);
  commit(from("192.0.2.6", 1));
  EXPECT_EQ(counts(2), (Told{{"192.0.2.6", 4}, {"192.0.2.6", 1}}));
  w.stop();
  std::lock_guard lock(rec.m);
  EXPECT_TRUE(rec.events.empty());
}

// A count held for a source is told when its window ends even when nothing more arrives (the
// writer's idle tick), and what is still held at stop is told by flush().
TEST(OperatorEvents, HeldCountsAreToldWhenTheWindowEndsWithoutANewCommitAndAtStop) {
  TempDb t;
  store::StoreConfig sc;
  sc.path = t.path();
  sc.retention_s = 0;
  auto s = store::SqliteStore::open(sc);
  ASSERT_TRUE(s) << s.error();
  store::SpoofClassifier classify = [](const ReportFields& f) {
    return f.saddr.to_string().starts_with("192.0.2.") ? SpoofStatus::suspect : SpoofStatus::not_mine;
  };
  Recorder rec;
  core::ManualClock clock(kNow);
  app::OperatorEvents events = app::operator_events(rec, std::chrono::seconds(60), clock);
  store::WriterConfig wc;
  wc.tick = events.tick;  // as the receiver wires it: about once a second, idle or not
  store::Writer w(**s, wc, classify);
  w.set_observer(events.observer);
  w.start();
  std::uint16_t port = 3000;
  auto from = [&](const char* saddr, int n) {
    std::vector<Item> items;
    for (int i = 0; i < n; ++i) {
      FlowSpec f;
      f.saddr = saddr;
      f.sport = port++;
      items.push_back(item(signed_report(key(9), "noc@t.example", "T Net", f).line));
    }
    return items;
  };
  // Committed and observed (flush() returns once the writer counted the batch written, after its
  // observer ran), so the clock moves only after the observer has read it.
  auto commit = [&](std::vector<Item> items) {
    ASSERT_TRUE(w.commit(std::move(items), std::chrono::seconds(30)));
    w.flush();
  };
  using Told = std::vector<std::pair<std::string, std::int64_t>>;
  // The events told once there are `n` (or after 60 s: TSan at high load), taken out.
  auto counts = [&](std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);  // TSan at load 30
    std::unique_lock lock(rec.m);
    while (rec.events.size() < n && std::chrono::steady_clock::now() < deadline) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      lock.lock();
    }
    Told out;
    for (const auto& e : rec.events) {
      const auto j = nlohmann::json::parse(e.json);
      out.emplace_back(j["saddr"], j["count"]);
    }
    rec.events.clear();
    return out;
  };
  commit(from("192.0.2.6", 2));
  commit(from("192.0.2.7", 1));
  EXPECT_EQ(counts(2), (Told{{"192.0.2.6", 2}, {"192.0.2.7", 1}}));
  clock.advance_ns(10'000'000'000);
  commit(from("192.0.2.6", 3));  // held
  commit(from("192.0.2.7", 4));  // held
  // Both windows end; nothing more is committed: the writer's tick tells what they held.
  clock.advance_ns(55'000'000'000);
  EXPECT_EQ(counts(2), (Told{{"192.0.2.6", 3}, {"192.0.2.7", 4}}));
  // A new source, then more from it within its window: held until stop.
  commit(from("192.0.2.8", 1));
  commit(from("192.0.2.8", 2));  // held, its window far from over
  EXPECT_EQ(counts(1), (Told{{"192.0.2.8", 1}}));
  w.stop();
  // At stop, what is still held is told.
  events.flush();
  std::lock_guard lock(rec.m);
  ASSERT_EQ(rec.events.size(), 1u);
  const auto j = nlohmann::json::parse(rec.events[0].json);
  EXPECT_EQ(j["saddr"], "192.0.2.8");
  EXPECT_EQ(j["count"], 2);
}

}  // namespace
}  // namespace overflowd::receive
