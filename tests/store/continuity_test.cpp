// Key continuity: what the store remembers about each key, and the alerts it raises.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "receive/receive_test_util.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;

using namespace testing;

struct Continuity : StoreFixture {
  void SetUp() override { open(); }
  std::vector<nlohmann::json> alerts(const char* kind) {
    std::vector<nlohmann::json> out;
    auto q = s->db().prepare("SELECT key, detail, report_id FROM alerts WHERE kind = ?1 ORDER BY id");
    q->bind(1, std::string_view(kind));
    while (q->step() == SQLITE_ROW) {
      auto j = nlohmann::json::parse(q->text(1));
      j["_key"] = q->text(0);
      j["_report_id"] = q->i64(2);
      out.push_back(j);
    }
    return out;
  }
  static FlowSpec flow(std::uint16_t sport, const char* saddr = "192.0.2.1", const char* exporter = "203.0.113.1") {
    FlowSpec f;
    f.sport = sport;
    f.saddr = saddr;
    f.exporter = exporter;
    return f;
  }
};

TEST_F(Continuity, RemembersFirstAndLastSeenCountExportersPrefixesAndContacts) {
  const auto k = key(1);
  const std::string hex = report::public_key_hex(k);
  write({item(signed_report(k, "a@x.net", "X", flow(1, "192.0.2.1", "203.0.113.1")).line, Input::udp, kNow),
         item(signed_report(k, "a@x.net", "X", flow(2, "192.0.2.200", "203.0.113.2")).line, Input::udp, kNow + 5)});
  write({item(signed_report(k, "a@x.net", "X", flow(3, "2001:db8:1:2::5", "203.0.113.2")).line, Input::http, kNow + 9)});
  EXPECT_EQ(n("SELECT reports FROM keys WHERE key = '" + hex + "'"), 3);
  EXPECT_EQ(n("SELECT first_seen_ns FROM keys"), kNow);
  EXPECT_EQ(n("SELECT last_seen_ns FROM keys"), kNow + 9);
  EXPECT_EQ(n("SELECT exporters FROM keys"), 2);
  // 192.0.2.0/24 (both sources), 198.51.100.0/24 (the destination), 2001:db8:1::/48.
  EXPECT_EQ(n("SELECT prefixes FROM keys"), 3);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_prefixes WHERE prefix = '2001:db8:1::/48'"), 1);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_prefixes WHERE prefix = '192.0.2.0/24'"), 1);
  EXPECT_EQ(n("SELECT reports FROM key_contacts WHERE email = 'a@x.net' AND identity = 'X'"), 3);
  EXPECT_TRUE(alerts("contact_changed").empty());
  EXPECT_TRUE(alerts("identity_new_key").empty());
}

TEST(ContinuityClock, AlertsAreTimedByTheStoresClock) {
  TempDb t;
  const core::ManualClock clock(kNow + 42);
  StoreConfig c;
  c.path = t.path();
  c.clock = &clock;
  auto s = SqliteStore::open(c);
  ASSERT_TRUE(s) << s.error();
  const auto k = key(3);
  const std::vector<Item> items = {item(signed_report(k, "noc@x.net", "X Net", FlowSpec{}).line),
                                   item(signed_report(k, "other@x.net", "X Net", FlowSpec{}).line)};
  ASSERT_TRUE((*s)->write(items));
  EXPECT_EQ((*s)->db().scalar("SELECT created_ns FROM alerts WHERE kind = 'contact_changed'").value_or(-1), kNow + 42);
}

TEST_F(Continuity, AKeyWhoseContactChangesRaisesAnAlert) {
  const auto k = key(1);
  write({item(signed_report(k, "noc@x.net", "X Net", flow(1)).line)});
  write({item(signed_report(k, "noc@x.net", "X Net", flow(2)).line)});
  EXPECT_TRUE(alerts("contact_changed").empty());
  write({item(signed_report(k, "attacker@evil.example", "X Net", flow(3)).line)});
  const auto a = alerts("contact_changed");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["_key"], report::public_key_hex(k));
  EXPECT_EQ(a[0]["from"]["email"], "noc@x.net");
  EXPECT_EQ(a[0]["to"]["email"], "attacker@evil.example");
  EXPECT_EQ(a[0]["to"]["identity"], "X Net");
  EXPECT_EQ(n("SELECT id FROM reports WHERE sport = 3"), a[0]["_report_id"].get<std::int64_t>());
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_contacts"), 2);
  auto cur = s->db().prepare("SELECT email FROM keys");
  ASSERT_TRUE(cur->step() == SQLITE_ROW);
  EXPECT_EQ(cur->text(0), "attacker@evil.example");
  // The same change again is not news.
  write({item(signed_report(k, "attacker@evil.example", "X Net", flow(4)).line)});
  EXPECT_EQ(alerts("contact_changed").size(), 1u);
}

TEST_F(Continuity, AChangeWithinOneBatchIsSeenToo) {
  write({item(signed_report(key(1), "a@x", "A", flow(1)).line), item(signed_report(key(1), "b@x", "A", flow(2)).line)});
  EXPECT_EQ(alerts("contact_changed").size(), 1u);
}

TEST_F(Continuity, AKnownIdentityUnderANewKeyRaisesAnAlert) {
  const auto old_key = key(1), new_key = key(2);
  write({item(signed_report(old_key, "noc@x.net", "X Net", flow(1)).line)});
  write({item(signed_report(new_key, "other@y.net", "X Net", flow(2)).line)});
  const auto a = alerts("identity_new_key");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["_key"], report::public_key_hex(new_key));
  EXPECT_EQ(a[0]["identity"], "X Net");
  EXPECT_EQ(a[0]["matched"], nlohmann::json::array({"identity"}));
  EXPECT_EQ(a[0]["previous_keys"], nlohmann::json::array({report::public_key_hex(old_key)}));
  EXPECT_TRUE(alerts("contact_changed").empty()) << "a new key has no earlier contact to change from";
}

TEST_F(Continuity, AKnownEmailUnderANewKeyRaisesAnAlert) {
  write({item(signed_report(key(1), "noc@x.net", "X Net", flow(1)).line)});
  write({item(signed_report(key(2), "noc@x.net", "Someone Else", flow(2)).line)});
  const auto a = alerts("identity_new_key");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["matched"], nlohmann::json::array({"email"}));
}

TEST_F(Continuity, DistinctIdentitiesAndEmptyContactsRaiseNothing) {
  write({item(signed_report(key(1), "", "", flow(1)).line), item(signed_report(key(2), "", "", flow(2)).line),
         item(signed_report(key(3), "c@z", "Z", flow(3)).line), item(signed_report(key(4), "d@w", "W", flow(4)).line)});
  EXPECT_EQ(n("SELECT COUNT(*) FROM alerts"), 0);
  EXPECT_EQ(n("SELECT COUNT(*) FROM keys"), 4);
}

TEST_F(Continuity, ExportersAndPrefixesPerKeyAreBounded) {
  s.reset();
  StoreConfig c;
  c.path = t.path();
  c.max_per_key = 2;
  s = std::move(*SqliteStore::open(c));
  std::vector<Item> items;
  const char* exporters[] = {"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"};
  for (std::uint16_t i = 0; i < 4; ++i) items.push_back(item(signed_report(key(1), "", "", flow(i, "192.0.2.1", exporters[i])).line));
  write(items);
  EXPECT_EQ(n("SELECT exporters FROM keys"), 2);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_exporters"), 2);
}

}  // namespace
}  // namespace overflowd::receive
