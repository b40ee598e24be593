// The schema's steps (store.cpp, kMigrations) walked from every released version: a database made
// by the old steps, holding rows, reaches the newest schema (the same tables, columns and indexes
// as a new database) with its rows intact.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>

#include "receive/receive_test_util.hpp"
#include "store/statements.hpp"
#include "store/store.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;
using namespace testing;

// Every table's columns and every index, by name: the shape a migration must reach.
std::set<std::tuple<std::string, std::string, std::string>> shape(sql::Db& db) {
  std::set<std::tuple<std::string, std::string, std::string>> out;
  auto objects = db.prepare("SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name");
  EXPECT_TRUE(objects);
  std::vector<std::pair<std::string, std::string>> tables;
  while (objects->step() == SQLITE_ROW) {
    out.emplace(objects->text(0), objects->text(1), objects->text(2));
    // An index's text: its columns and, for a partial index, the rows it holds.
    if (objects->text(0) == "index") out.emplace("index-sql", objects->text(1), objects->text(3));
    if (objects->text(0) == "table") tables.emplace_back(objects->text(1), "");
  }
  for (const auto& [t, unused] : tables) {
    auto cols = db.prepare("SELECT name, type, pk FROM pragma_table_info('" + t + "')");
    EXPECT_TRUE(cols);
    while (cols->step() == SQLITE_ROW)
      out.emplace("column", t + "." + cols->text(0), cols->text(1) + " pk" + cols->text(2));
  }
  auto idx = db.prepare("SELECT m.name, group_concat(i.name, ',') FROM sqlite_master m, pragma_index_info(m.name) i"
                        " WHERE m.type = 'index' GROUP BY m.name");
  EXPECT_TRUE(idx);
  while (idx->step() == SQLITE_ROW) out.emplace("index-columns", idx->text(0), idx->text(1));
  return out;
}

std::int64_t n(sql::Db& db, const std::string& sql) { return db.scalar(sql).value_or(-1); }

// Rows a database of version `v` can hold, written with that version's columns only.
void fill(sql::Db& db, int v) {
  ASSERT_TRUE(db.exec(
      "INSERT INTO reports(digest, received_ns, input, peer, form, key, signature, message, email, identity, saddr, daddr,"
      " exporter, stime, etime, pcount, bcount) VALUES"
      " (x'01', 1000000000, 'udp', '127.0.0.1', 'full', '" + std::string(64, 'a') + "', x'00', '{}', 'x@a', 'A',"
      " '192.0.2.1', '198.51.100.1', '10.0.0.1', 1000, 2000, 5, 500),"
      " (x'02', 2000000000, 'http', '127.0.0.1', 'compact', '" + std::string(64, 'b') + "', x'00', '{}', 'y@b', 'B',"
      " '192.0.2.2', '198.51.100.2', '', 3000, 4000, 7, 700);"
      "INSERT INTO invalid(received_ns, input, peer, reason, raw) VALUES(5, 'udp', '127.0.0.1', 'json', x'7b');"
      "INSERT INTO counters(name, value) VALUES('stored', 2);"));
  if (v >= 2) {
    ASSERT_TRUE(db.exec("INSERT INTO alerts(created_ns, kind, key, report_id, detail) VALUES(7, 'contact_changed', '" +
                        std::string(64, 'a') + "', 1, '{}')"));
  }
}

class MigrationFrom : public ::testing::TestWithParam<int> {};

TEST_P(MigrationFrom, AnOldDatabaseReachesTheNewestSchemaWithItsRowsIntact) {
  const int from = GetParam();
  TempDb fresh_dir, old_dir;
  std::set<std::tuple<std::string, std::string, std::string>> newest;
  {
    StoreConfig c;
    c.path = fresh_dir.path();
    auto s = SqliteStore::open(c);
    ASSERT_TRUE(s) << s.error();
    newest = shape((*s)->db());
  }
  {
    auto db = sql::Db::open(old_dir.path(), false);
    ASSERT_TRUE(db);
    ASSERT_TRUE(SqliteStore::migrate(*db, from));
    ASSERT_EQ(SqliteStore::schema_version(*db).value(), from);
    fill(*db, from);
  }
  StoreConfig c;
  c.path = old_dir.path();
  auto s = SqliteStore::open(c);
  ASSERT_TRUE(s) << s.error();
  sql::Db& db = (*s)->db();
  EXPECT_EQ(SqliteStore::schema_version(db).value(), SqliteStore::kSchemaVersion);
  EXPECT_EQ(shape(db), newest);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports"), 2);
  EXPECT_EQ(n(db, "SELECT pcount FROM reports WHERE digest = x'01'"), 5);
  EXPECT_EQ(n(db, "SELECT bcount FROM reports WHERE digest = x'02'"), 700);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM invalid"), 1);
  EXPECT_EQ(n(db, "SELECT value FROM counters WHERE name = 'stored'"), 2);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM alerts"), from >= 2 ? 1 : 0);
  if (from < 2) {
    EXPECT_EQ(n(db, "SELECT COUNT(*) FROM keys"), 2) << "continuity filled from the reports";
  }
  // And the migrated database takes new reports.
  const Item items[] = {item(signed_report(key(1), "n@c", "C").line)};
  auto w = (*s)->write(items);
  ASSERT_TRUE(w) << w.error();
  EXPECT_EQ(w->stored, 1u);
}

INSTANTIATE_TEST_SUITE_P(Store, MigrationFrom, ::testing::Range(1, SqliteStore::kSchemaVersion));

// Version 12 indexes the reasons of the reports already stored (report_reasons), from their signed
// messages, as the writer does for new ones: one row per object of metadata.reasons.
TEST(Migration, ReportReasonsAreBackfilledFromTheStoredMessages) {
  TempDb dir;
  {
    auto db = sql::Db::open(dir.path(), false);
    ASSERT_TRUE(db);
    ASSERT_TRUE(SqliteStore::migrate(*db, 11));
    const std::string cols = "INSERT INTO reports(digest, received_ns, input, peer, form, key, signature, message, class, reasons)";
    const std::string key(64, 'a');
    ASSERT_TRUE(db->exec(
        cols + " VALUES (x'01', 1, 'udp', '127.0.0.1', 'full', '" + key + "', x'00',"
        " '{\"metadata\":{\"class\":\"SUSPICIOUS\",\"reasons\":[{\"class\":\"syn-flood\",\"rule\":\"syn-only\"},"
        "{\"class\":\"blocklist\",\"list\":\"drop\",\"rule\":\"spamhaus\"}]}}', 'SUSPICIOUS', 'syn-flood,blocklist');" +
        cols + " VALUES (x'02', 2, 'udp', '127.0.0.1', 'full', '" + key + "', x'00',"
        " '{\"metadata\":{\"class\":\"INFORMATIONAL\"}}', 'INFORMATIONAL', '');" +
        cols + " VALUES (x'03', 3, 'udp', '127.0.0.1', 'full', '" + key + "', x'00', 'not json', 'SUSPICIOUS', 'x');"));
  }
  StoreConfig c;
  c.path = dir.path();
  auto s = SqliteStore::open(c);
  ASSERT_TRUE(s) << s.error();
  sql::Db& db = (*s)->db();
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM report_reasons"), 2);
  EXPECT_EQ(n(db, "SELECT report_id FROM report_reasons WHERE class = 'syn-flood' AND rule = 'syn-only'"), 1);
  EXPECT_EQ(n(db, "SELECT report_id FROM report_reasons WHERE class = 'blocklist' AND rule = 'spamhaus'"), 1);
}

// Version 13 makes the indexes on rare values partial and merges the spoofing index into the
// source address's: a database of version 12 keeps its rows, the partial indexes hold exactly the
// rows with their value (INDEXED BY: the planner can read them for the queries that name it), and
// the reports are found as before.
TEST(Migration, Version13PartialIndexesHoldTheRowsOfTheirValue) {
  TempDb dir;
  {
    auto db = sql::Db::open(dir.path(), false);
    ASSERT_TRUE(db);
    ASSERT_TRUE(SqliteStore::migrate(*db, 12));
    // Report i: toward my prefix 198.51.100.0/24 with no flow time every third (i % 3 = 2: chart
    // 2 once open() marks them), coherent every fourth, spoof (i % 4) - 1, SUSPICIOUS every fifth
    // ('' for the first: a report stored before classes), source 192.0.2.(i % 8).
    std::string sql;
    for (int i = 0; i < 60; ++i) {
      const std::string cls = i == 0 ? "" : i % 5 == 0 ? "SUSPICIOUS" : "INFORMATIONAL";
      sql += "INSERT INTO reports(digest, received_ns, input, peer, form, key, signature, message, coherent, spoof, class,"
             " saddr_bin, daddr_bin) VALUES (x'" + std::string(1, "0123456789abcdef"[i / 16]) +
             std::string(1, "0123456789abcdef"[i % 16]) + "', " + std::to_string(1000 + i) + ", 'udp', '127.0.0.1', 'full', '" +
             std::string(64, 'a') + "', x'00', '{}', " + std::to_string(i % 4 == 0 ? 1 : 0) + ", " + std::to_string(i % 4 - 1) +
             ", '" + cls + "', x'00000000000000000000ffffc000020" + std::to_string(i % 8) + "', " +
             (i % 3 == 2 ? "x'00000000000000000000ffffc6336402'" : "x'00000000000000000000ffffcb007101'") + ");";
    }
    ASSERT_TRUE(db->exec(sql)) << db->error();
  }
  StoreConfig c;
  c.path = dir.path();
  c.my_prefixes = {*Cidr::parse("198.51.100.0/24")};
  auto s = SqliteStore::open(c);
  ASSERT_TRUE(s) << s.error();
  sql::Db& db = (*s)->db();
  EXPECT_EQ(SqliteStore::schema_version(db).value(), SqliteStore::kSchemaVersion);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports"), 60);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports INDEXED BY reports_flagged WHERE chart = 2"), 20);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports INDEXED BY reports_coherent WHERE coherent = 1 AND received_ns >= 0"), 15);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports INDEXED BY reports_suspects WHERE spoof = 1 AND received_ns >= 0"), 15);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports INDEXED BY reports_class WHERE class = 'SUSPICIOUS' AND " +
                      std::string(stmt::uncommon_class)), 11);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports INDEXED BY reports_class WHERE " + std::string(stmt::uncommon_class)), 12);
  // Source .3: i = 3, 11, ..., 59 (eight reports), each i % 4 = 3: spoof 2.
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports INDEXED BY reports_saddr WHERE saddr_bin = x'00000000000000000000ffffc0000203'"
                  " AND spoof IN (-1, 0, 1, 2)"), 8);
  EXPECT_EQ(n(db, "SELECT COUNT(*) FROM reports INDEXED BY reports_saddr WHERE saddr_bin = x'00000000000000000000ffffc0000203'"
                  " AND spoof = 2"), 8);
}

}  // namespace
}  // namespace overflowd::receive
