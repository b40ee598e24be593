// The store's bounds (issue 13 items 1 and 4): every per-report, per-key and API statement uses an
// index (no full scan, no temporary B-tree), on a new database and on a migrated one; continuity
// state per email and identity is bounded; contacts per key are capped; alerts per key rate-limited.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "receive/receive_test_util.hpp"
#include "store/statements.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;
using namespace testing;

// The plan's lines that mean a sort or a full scan.
std::vector<std::string> bad_plan_lines(sql::Db& db, const stmt::Planned& p) {
  auto q = db.prepare("EXPLAIN QUERY PLAN " + std::string(p.sql));
  if (!q) return {"cannot prepare: " + q.error()};
  std::vector<std::string> bad;
  while (q->step() == SQLITE_ROW) {
    const std::string detail = q->text(3);
    if (detail.starts_with("SCALAR SUBQUERY") || detail.starts_with("CORRELATED SCALAR")) continue;
    const bool temp = detail.find("TEMP B-TREE") != std::string::npos;
    const bool scan = detail.starts_with("SCAN ") && detail.find(" USING ") == std::string::npos;
    if ((temp && !p.grouped) || (scan && !p.rowid_walk)) bad.push_back(detail);
  }
  return bad;
}

void expect_indexed_plans(sql::Db& db) {
  for (const stmt::Planned& p : stmt::kPlanned) {
    const auto bad = bad_plan_lines(db, p);
    EXPECT_TRUE(bad.empty()) << p.sql << "\n  plan: " << nlohmann::json(bad).dump();
  }
}

TEST(StoreBounds, EveryPlannedStatementUsesAnIndexOnANewDatabase) {
  TempDb t;
  StoreConfig c;
  c.path = t.path();
  auto s = SqliteStore::open(c);
  ASSERT_TRUE(s) << s.error();
  expect_indexed_plans((*s)->db());
}

TEST(StoreBounds, EveryPlannedStatementUsesAnIndexOnAMigratedDatabase) {
  TempDb t;
  {
    auto db = sql::Db::open(t.path(), false);
    ASSERT_TRUE(db) << db.error();
    auto m = SqliteStore::migrate(*db, 2);
    ASSERT_TRUE(m) << m.error();
  }
  StoreConfig c;
  c.path = t.path();
  auto s = SqliteStore::open(c);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(SqliteStore::schema_version((*s)->db()).value(), SqliteStore::kSchemaVersion);
  expect_indexed_plans((*s)->db());
}

TEST(StoreBounds, TheBadPlanCheckCatchesTheOldContinuityQuery) {
  TempDb t;
  {
    auto db = sql::Db::open(t.path(), false);
    ASSERT_TRUE(db);
    ASSERT_TRUE(SqliteStore::migrate(*db, 2));
    EXPECT_FALSE(bad_plan_lines(*db, {"SELECT DISTINCT key FROM key_contacts WHERE email = ?1 AND key <> ?2"
                                      " ORDER BY first_seen_ns LIMIT 8"}).empty());
  }
}

struct Bounds : StoreFixture {
  static FlowSpec flow(std::uint16_t sport) {
    FlowSpec f;
    f.sport = sport;
    return f;
  }
};

TEST_F(Bounds, ContinuityRemembersAtMostNKeysPerEmailAndPerIdentityTheOldestForgotten) {
  open();
  constexpr int kKeys = stmt::kMaxKeysPerContact + 6;
  for (int i = 1; i <= kKeys; ++i)
    write({item(signed_report(key(static_cast<std::uint8_t>(i)), "v@x.net", "Victim", flow(static_cast<std::uint16_t>(i))).line,
                Input::udp, kNow + i)});
  EXPECT_EQ(n("SELECT COUNT(DISTINCT key) FROM key_contacts WHERE email = 'v@x.net'"), stmt::kMaxKeysPerContact);
  EXPECT_EQ(n("SELECT COUNT(DISTINCT key) FROM key_contacts WHERE identity = 'Victim'"), stmt::kMaxKeysPerContact);
  // The oldest six are forgotten, the newest kept.
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_contacts WHERE key = '" + report::public_key_hex(key(1)) + "'"), 0);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_contacts WHERE key = '" + report::public_key_hex(key(6)) + "'"), 0);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_contacts WHERE key = '" + report::public_key_hex(key(7)) + "'"), 1);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_contacts WHERE key = '" + report::public_key_hex(key(kKeys)) + "'"), 1);
  // Every key is still known, and every new key under the contact still alerted on.
  EXPECT_EQ(n("SELECT COUNT(*) FROM keys"), kKeys);
  EXPECT_EQ(n("SELECT COUNT(*) FROM alerts WHERE kind = 'identity_new_key'"), kKeys - 1);
  // The alert names the oldest remembered keys, at most 8.
  auto q = s->db().prepare("SELECT detail FROM alerts ORDER BY id DESC LIMIT 1");
  ASSERT_TRUE(q && q->step() == SQLITE_ROW);
  const auto detail = nlohmann::json::parse(q->text(0));
  ASSERT_EQ(detail["previous_keys"].size(), 8u);
  EXPECT_EQ(detail["previous_keys"][0], report::public_key_hex(key(kKeys - stmt::kMaxKeysPerContact)));
}

TEST_F(Bounds, ContactsPerKeyAreCappedLikeExportersAndPrefixes) {
  StoreConfig c;
  c.max_per_key = 5;
  open(c);
  const auto k = key(1);
  for (int i = 0; i < 8; ++i)
    write({item(signed_report(k, "a" + std::to_string(i) + "@x.net", "I" + std::to_string(i), flow(static_cast<std::uint16_t>(i))).line,
                Input::udp, kNow + i)});
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_contacts"), 5);
  EXPECT_EQ(n("SELECT COUNT(*) FROM alerts WHERE kind = 'contact_changed'"), 4);
  // The key's current contact is still the latest.
  EXPECT_EQ(n("SELECT COUNT(*) FROM keys WHERE email = 'a7@x.net'"), 1);
  EXPECT_EQ(n("SELECT reports FROM keys"), 8);
}

TEST_F(Bounds, AlertsPerKeyAreRateLimitedAndTheRestCounted) {
  open();
  const auto k = key(1);
  constexpr int kContacts = stmt::kMaxAlertsPerKeyPerHour + 30;
  std::vector<Item> batch;
  for (int i = 0; i < kContacts; ++i) {
    batch.push_back(item(signed_report(k, "a" + std::to_string(i) + "@x.net", "", flow(static_cast<std::uint16_t>(i))).line,
                         Input::udp, kNow + i));
    if (batch.size() == 40) {
      write(std::move(batch));
      batch.clear();
    }
  }
  write(std::move(batch));
  EXPECT_EQ(n("SELECT COUNT(*) FROM alerts WHERE kind = 'contact_changed'"), stmt::kMaxAlertsPerKeyPerHour);
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'alerts.suppressed'"), kContacts - 1 - stmt::kMaxAlertsPerKeyPerHour);
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'alerts'"), stmt::kMaxAlertsPerKeyPerHour);
  // Another key still alerts.
  write({item(signed_report(key(2), "b@x.net", "").line, Input::udp, kNow),
         item(signed_report(key(2), "c@x.net", "", flow(7)).line, Input::udp, kNow + 1)});
  EXPECT_EQ(n("SELECT COUNT(*) FROM alerts WHERE kind = 'contact_changed'"), stmt::kMaxAlertsPerKeyPerHour + 1);
}

}  // namespace
}  // namespace overflowd::receive
