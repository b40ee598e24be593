// What the receiver tells the operator of a committed batch (app/operator_events): the writer's
// observer gets the alerts the store inserted and the stored reports with their spoofing verdicts;
// each new alert and each newly stored suspect becomes one event, duplicates and other verdicts none.
#include "app/operator_events.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <mutex>
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
  w.set_observer(app::operator_events(rec));
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

}  // namespace
}  // namespace overflowd::receive
