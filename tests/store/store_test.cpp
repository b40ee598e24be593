#include "store/store.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include "core/encoding.hpp"
#include "receive/receive_test_util.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;

using namespace testing;

std::int64_t count(SqliteStore& s, const std::string& sql) { return s.db().scalar(sql).value_or(-1); }

std::unique_ptr<SqliteStore> open_store(const TempDb& t, StoreConfig c = {}) {
  c.path = t.path();
  auto s = SqliteStore::open(c);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error());
  return s ? std::move(*s) : nullptr;
}

TEST(Store, NewDatabaseGetsTheCurrentSchemaVersionInWalMode) {
  TempDb t;
  auto s = open_store(t);
  ASSERT_TRUE(s);
  EXPECT_EQ(SqliteStore::schema_version(s->db()).value(), SqliteStore::kSchemaVersion);
  auto mode = s->db().prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode && mode->step() == SQLITE_ROW);
  EXPECT_EQ(mode->text(0), "wal");
  EXPECT_EQ(count(*s, "PRAGMA synchronous"), 2) << "FULL";
}

TEST(Store, ANewDatabaseGetsLargePagesAnExistingOneKeepsItsOwn) {
  {
    TempDb t;
    auto s = open_store(t);
    ASSERT_TRUE(s);
    EXPECT_EQ(count(*s, "PRAGMA page_size"), SqliteStore::kPageSize);
  }
  TempDb t;
  {
    auto db = sql::Db::open(t.path(), false);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA page_size=4096; CREATE TABLE other(x)"));
  }
  auto s = open_store(t);
  ASSERT_TRUE(s);
  EXPECT_EQ(count(*s, "PRAGMA page_size"), 4096);
  const Item items[] = {item(signed_report(key(1), "a@example.net", "A").line)};
  ASSERT_TRUE(s->write(items));
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 1);
}

TEST(Store, StoresAVerifiedReportWithItsRawMessageSoItReverifies) {
  TempDb t;
  auto s = open_store(t);
  const auto k = key(1);
  const auto r = signed_report(k, "noc@example.net", "Example Net");
  const Item items[] = {item(r.line)};
  auto res = s->write(items);
  ASSERT_TRUE(res) << res.error();
  EXPECT_EQ(res->stored, 1u);
  auto q = s->db().prepare("SELECT key, signature, message, saddr, daddr, email, form, time_flag FROM reports");
  ASSERT_TRUE(q && q->step() == SQLITE_ROW);
  EXPECT_EQ(q->text(0), report::public_key_hex(k));
  EXPECT_EQ(q->text(3), "192.0.2.1");
  EXPECT_EQ(q->text(4), "198.51.100.7");
  EXPECT_EQ(q->text(5), "noc@example.net");
  EXPECT_EQ(q->text(6), "full");
  EXPECT_EQ(q->i64(7), 0);
  EXPECT_TRUE(reverify(q->text(0), q->blob(1), q->text(2)));
  // The stored message is exactly what was signed: the line's prefix before the signature block.
  EXPECT_EQ(q->text(2), r.line.substr(0, r.line.find(",\"signature\":")) + "}");
  std::string tampered = q->text(2);
  tampered[5] = tampered[5] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(reverify(q->text(0), q->blob(1), tampered));
}

TEST(Store, ADuplicateOrReplayIsStoredOnceAndCounted) {
  TempDb t;
  auto s = open_store(t);
  const auto r = signed_report(key(1), "a@example.net", "A");
  // The same report in the full and the compact form, and a replay a day later.
  const Item items[] = {item(r.line), item(r.compact()), item(r.line, Input::http, kNow + 86'400'000'000'000)};
  auto res = s->write(items);
  ASSERT_TRUE(res) << res.error();
  EXPECT_EQ(res->stored, 1u);
  EXPECT_EQ(res->duplicates, 2u);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 1);
  EXPECT_EQ(count(*s, "SELECT duplicates FROM reports"), 2);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'duplicates'"), 2);
  EXPECT_EQ(count(*s, "SELECT reports FROM keys"), 1) << "a duplicate is not a second report of the key";
  // Across batches too.
  const Item again[] = {item(r.compact())};
  ASSERT_TRUE(s->write(again));
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 1);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'duplicates'"), 3);
}

TEST(Store, TheSameFlowSignedByTwoKeysIsTwoReports) {
  TempDb t;
  auto s = open_store(t);
  const Item items[] = {item(signed_report(key(1), "", "").line), item(signed_report(key(2), "", "").line)};
  ASSERT_TRUE(s->write(items));
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 2);
}

TEST(Store, InvalidInputIsKeptApartAndCountedByReason) {
  TempDb t;
  auto s = open_store(t);
  auto r = signed_report(key(1), "a@example.net", "A");
  std::string forged = r.line;
  const auto at = forged.find("a@example.net");
  forged.replace(at, 1, "b");  // the full form no longer matches its signed message
  std::string compact(r.compact());
  const auto sig_at = compact.find("\"signature\":\"") + 20;
  compact[sig_at] = compact[sig_at] == 'A' ? 'B' : 'A';  // a flipped bit inside the signature
  const Item items[] = {item(forged), item(compact), item("not json at all"), item("{\"a\":1}"), item("")};
  auto res = s->write(items);
  ASSERT_TRUE(res) << res.error();
  EXPECT_EQ(res->rejected, 5u);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 0);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM invalid"), 5);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'invalid'"), 5);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'invalid.message_mismatch'"), 1);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'invalid.not_json'"), 1);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'invalid.no_signature_block'"), 1);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'invalid.empty'"), 1);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM counters WHERE name IN ('invalid.bad_signature', 'invalid.bad_signature_encoding')"), 1);
  auto raw = s->db().prepare("SELECT raw FROM invalid WHERE reason = 'not_json'");
  ASSERT_TRUE(raw && raw->step() == SQLITE_ROW);
  EXPECT_EQ(raw->blob(0), "not json at all");
}

TEST(Store, AClaimedTimeFarFromOursIsFlagged) {
  TempDb t;
  auto s = open_store(t);
  const std::int64_t day = 86'400'000'000'000;
  const Item items[] = {item(signed_report(key(1), "", "", {}, kNow + 2 * day).line),
                        item(signed_report(key(1), "", "", {}, kNow - 31 * day).line),
                        item(signed_report(key(1), "", "", {}, kNow - 29 * day).line),
                        item(signed_report(key(1), "", "", {}, kNow + day / 2).line)};
  ASSERT_TRUE(s->write(items));
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports WHERE time_flag = 1"), 1);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports WHERE time_flag = 2"), 1);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports WHERE time_flag = 0"), 2);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'time.future'"), 1);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'time.past'"), 1);
}

TEST(Store, ReopeningKeepsEverythingAndChangesNoSchema) {
  TempDb t;
  {
    auto s = open_store(t);
    const Item items[] = {item(signed_report(key(1), "a@example.net", "A").line)};
    ASSERT_TRUE(s->write(items));
  }
  auto s = open_store(t);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 1);
  EXPECT_EQ(SqliteStore::schema_version(s->db()).value(), SqliteStore::kSchemaVersion);
}

TEST(Store, MigratesAVersion1DatabaseAndFillsKeyContinuityFromItsReports) {
  TempDb t;
  {
    // A database as the first schema left it, with reports from two keys, one of which changed
    // its contact.
    auto db = sql::Db::open(t.path(), false);
    ASSERT_TRUE(db);
    ASSERT_TRUE(SqliteStore::migrate(*db, 1));
    ASSERT_EQ(SqliteStore::schema_version(*db).value(), 1);
    auto ins = db->prepare(
        "INSERT INTO reports(digest, received_ns, input, peer, form, key, signature, message, email, identity, saddr,"
        " daddr, exporter) VALUES(?1, ?2, 'udp', '127.0.0.1', 'full', ?3, x'00', '{}', ?4, ?5, '192.0.2.1',"
        " '198.51.100.1', ?6)");
    ASSERT_TRUE(ins);
    const std::string k1(64, 'a'), k2(64, 'b');
    struct Row {
      const char* digest;
      std::int64_t t;
      const std::string* key;
      const char* email;
      const char* identity;
      const char* exporter;
    } rows[] = {{"d1", 100, &k1, "x@a", "A", "10.0.0.1"},
                {"d2", 200, &k1, "y@a", "A", "10.0.0.2"},
                {"d3", 300, &k2, "z@b", "B", ""}};
    for (const auto& r : rows)
      ASSERT_TRUE(ins->bind_blob(1, std::string_view(r.digest)).bind(2, r.t).bind(3, *r.key).bind(4, std::string_view(r.email))
                      .bind(5, std::string_view(r.identity)).bind(6, std::string_view(r.exporter)).run());
  }
  auto s = open_store(t);
  ASSERT_TRUE(s);
  EXPECT_EQ(SqliteStore::schema_version(s->db()).value(), SqliteStore::kSchemaVersion);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 3);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports WHERE spoof = -1"), 3);
  EXPECT_EQ(count(*s, "SELECT reports FROM keys WHERE key = '" + std::string(64, 'a') + "'"), 2);
  EXPECT_EQ(count(*s, "SELECT first_seen_ns FROM keys WHERE key = '" + std::string(64, 'a') + "'"), 100);
  EXPECT_EQ(count(*s, "SELECT last_seen_ns FROM keys WHERE key = '" + std::string(64, 'a') + "'"), 200);
  EXPECT_EQ(count(*s, "SELECT exporters FROM keys WHERE key = '" + std::string(64, 'a') + "'"), 2);
  EXPECT_EQ(count(*s, "SELECT exporters FROM keys WHERE key = '" + std::string(64, 'b') + "'"), 0);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM key_contacts WHERE key = '" + std::string(64, 'a') + "'"), 2);
  auto latest = s->db().prepare("SELECT email FROM keys WHERE key = '" + std::string(64, 'a') + "'");
  ASSERT_TRUE(latest && latest->step() == SQLITE_ROW);
  EXPECT_EQ(latest->text(0), "y@a");
  // And the migrated database takes new reports.
  const Item items[] = {item(signed_report(key(1), "", "").line)};
  EXPECT_TRUE(s->write(items));
}

TEST(Store, RefusesADatabaseFromANewerVersion) {
  TempDb t;
  {
    auto db = sql::Db::open(t.path(), false);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA user_version = 99"));
  }
  StoreConfig c;
  c.path = t.path();
  auto s = SqliteStore::open(c);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("newer"), std::string::npos) << s.error();
}

TEST(Store, RetentionDropsTheOldestReportsBeyondTheCountLimit) {
  TempDb t;
  StoreConfig c;
  c.max_reports = 3;
  c.max_invalid = 2;
  auto s = open_store(t, c);
  std::vector<Item> items;
  for (std::uint16_t i = 0; i < 5; ++i) {
    FlowSpec spec;
    spec.sport = static_cast<std::uint16_t>(1000 + i);
    items.push_back(item(signed_report(key(1), "", "", spec).line, Input::udp, kNow + i));
  }
  for (int i = 0; i < 4; ++i) items.push_back(item("junk"));
  ASSERT_TRUE(s->write(items));
  auto r = s->enforce_retention(kNow);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->reports, 2);
  EXPECT_EQ(r->invalid, 2);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 3);
  EXPECT_EQ(count(*s, "SELECT MIN(sport) FROM reports"), 1002) << "the newest are kept";
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM invalid"), 2);
  EXPECT_EQ(count(*s, "SELECT reports FROM keys"), 5) << "a key's history outlives its reports";
}

TEST(Store, RetentionDropsReportsAndKeysOlderThanTheAgeLimit) {
  TempDb t;
  StoreConfig c;
  c.retention_s = 3600;
  auto s = open_store(t, c);
  const std::int64_t hour = 3'600'000'000'000;
  FlowSpec other;
  other.sport = 1;
  const Item items[] = {item(signed_report(key(1), "", "").line, Input::udp, kNow - 2 * hour),
                        item(signed_report(key(2), "", "", other).line, Input::udp, kNow - hour / 2)};
  ASSERT_TRUE(s->write(items));
  auto r = s->enforce_retention(kNow);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->reports, 1);
  EXPECT_EQ(r->keys, 1);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM reports"), 1);
  EXPECT_EQ(count(*s, "SELECT COUNT(*) FROM key_contacts"), 1);
  EXPECT_EQ(count(*s, "SELECT value FROM counters WHERE name = 'retention.reports'"), 1);
}

TEST(Store, NoInputEndsTheWriter) {
  TempDb t;
  auto s = open_store(t);
  std::vector<Item> items;
  const std::string samples[] = {"{", "[]", "null", "{\"signature\":{}}", "{\"key\":\"zz\",\"signature\":\"x\"}",
                                 std::string(70'000, '{'), std::string("\0\xff\xfe", 3), "{\"signature\":{\"key\":" + std::string(64, 'a') + "}}"};
  for (const auto& x : samples) items.push_back(item(x));
  auto res = s->write(items);
  ASSERT_TRUE(res) << res.error();
  EXPECT_EQ(res->rejected, std::size(samples));
}

}  // namespace
}  // namespace overflowd::receive
