// The store's plans on PostgreSQL (what store_bounds_test and summary_filter_test check on SQLite):
// every planned statement (statements.hpp) and a narrowed summary's reads use an index, with the
// generic plan a prepared statement may settle on (its parameters unknown: a partial index serves
// only a query that names its predicate); and schema version 13's step on a database of version 12
// with rows. Needs a server: OVERFLOWD_TEST_PG_URL (tests/integration/test_store_postgres_plans.py
// makes a cluster in a temporary folder and runs this with it); skipped without.
#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <tuple>
#include <set>
#include <string>
#include <unistd.h>
#include <utility>

#include "receive/receive_test_util.hpp"
#include "store/pg.hpp"
#include "store/pg_store.hpp"
#include "store/queries_impl.hpp"
#include "store/rollups.hpp"
#include "store/sql_dialect.hpp"
#include "store/statements.hpp"
#include "store/store.hpp"

namespace overflowd::store {
namespace {

// A database of its own on the test's server, dropped at the end.
struct PgDatabase {
  std::string url;
  std::string name;
  std::optional<pg::Db> admin;
  explicit PgDatabase(std::string_view tag) {
    const char* base = std::getenv("OVERFLOWD_TEST_PG_URL");  // postgresql:///postgres?host=...
    if (!base) return;
    auto a = pg::Db::open(base);
    if (!a) {
      ADD_FAILURE() << a.error();
      return;
    }
    admin = std::move(*a);
    name = "plan_" + std::string(tag) + "_" + std::to_string(::getpid());
    (void)admin->exec_native("DROP DATABASE IF EXISTS " + name);
    if (auto r = admin->exec_native("CREATE DATABASE " + name); !r) ADD_FAILURE() << r.error();
    url = base;
    const auto from = url.find("///") + 3;
    url.replace(from, url.find('?') - from, name);
  }
  ~PgDatabase() {
    if (admin) (void)admin->exec_native("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  }
};

// The rows of a native statement's answer, column 0, one string.
std::string lines(pg::Db& db, const std::string& sql) {
  PGresult* r = PQexec(db.handle(), sql.c_str());
  std::string out;
  if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
    out = "ERROR: " + std::string(PQresultErrorMessage(r));
  } else {
    for (int i = 0; i < PQntuples(r); ++i) out += std::string(PQgetvalue(r, i, 0)) + "\n";
  }
  PQclear(r);
  return out;
}

// The generic plan of `sqlite_sql` (translated as the store prepares it), with sequential scans
// priced out: a "Seq Scan" left in it means no index can serve the statement.
std::string generic_plan(pg::Db& db, std::string_view sqlite_sql) {
  const dialect::Translated t = dialect::to_postgres(sqlite_sql);
  std::string nulls;
  for (int i = 0; i < t.parameters; ++i) nulls += i ? ", NULL" : "NULL";
  std::string out = lines(db, "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan");
  out += lines(db, "PREPARE plan_test AS " + t.sql);
  out += lines(db, "EXPLAIN EXECUTE plan_test" + (nulls.empty() ? std::string() : "(" + nulls + ")"));
  (void)lines(db, "DEALLOCATE plan_test");
  (void)lines(db, "RESET enable_seqscan; RESET plan_cache_mode");
  return out;
}

#define NEEDS_SERVER(db)                                                                     \
  if (!std::getenv("OVERFLOWD_TEST_PG_URL")) GTEST_SKIP() << "OVERFLOWD_TEST_PG_URL is not set"; \
  ASSERT_FALSE((db).url.empty())

TEST(PgPlans, EveryPlannedStatementUsesAnIndex) {
  PgDatabase d("planned");
  NEEDS_SERVER(d);
  StoreConfig c;
  c.path = d.url;
  auto s = PgStore::open(c);
  ASSERT_TRUE(s) << s.error();
  for (const stmt::Planned& p : stmt::kPlanned) {
    const std::string plan = generic_plan((*s)->db(), p.sql);
    EXPECT_EQ(plan.find("ERROR"), std::string::npos) << p.sql << "\n" << plan;
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << p.sql << "\n" << plan;
  }
  // The partial indexes serve the statements that name their rows.
  for (const auto& [sql, index] : {std::pair{stmt::flagged_newest, "reports_flagged"}, std::pair{stmt::flagged_count, "reports_flagged"},
                                   std::pair{stmt::stored_suspects, "reports_suspects"}, std::pair{stmt::path_groups, "reports_coherent"},
                                   std::pair{stmt::spoof_counts, "reports_saddr"}, std::pair{stmt::spoof_open, "reports_saddr"}}) {
    const std::string plan = generic_plan((*s)->db(), sql);
    EXPECT_NE(plan.find(index), std::string::npos) << sql << "\n" << plan;
  }
}

// A narrowed summary's reads (rollup::narrowed, the filter as queries_impl::narrowed writes it)
// take the filter's index; the flagged reports (chart = 2) theirs.
TEST(PgPlans, ANarrowedReadTakesTheFiltersIndex) {
  PgDatabase d("narrowed");
  NEEDS_SERVER(d);
  StoreConfig c;
  c.path = d.url;
  auto s = PgStore::open(c);
  ASSERT_TRUE(s) << s.error();
  Narrowing by_key, by_daddr, by_saddr, by_class;
  by_key.key = std::string(64, 'a');
  by_daddr.daddr = *receive::Cidr::parse("198.51.100.0/24");
  by_saddr.saddr = *receive::Cidr::parse("192.0.2.0/24");
  by_class.report_class = "SUSPICIOUS";
  for (const auto& [n, index] : {std::pair{by_key, "reports_key"}, std::pair{by_daddr, "reports_daddr"},
                                 std::pair{by_saddr, "reports_saddr"}, std::pair{by_class, "reports_class"}}) {
    // Numbered from ?4, after the summary's own three (PREPARE needs every parameter used).
    const std::string filter = queries_impl::narrowed(n, "r.", 4).sql;
    for (const rollup::Table& table : rollup::tables()) {
      const std::string plan =
          generic_plan((*s)->db(), "WITH " + rollup::narrowed(table, "1 = 1" + filter) + " SELECT * FROM " + std::string(table.name));
      EXPECT_NE(plan.find(index), std::string::npos) << table.name << filter << "\n" << plan;
      EXPECT_EQ(plan.find("Seq Scan on reports"), std::string::npos) << table.name << filter << "\n" << plan;
    }
    const std::string flagged = generic_plan((*s)->db(), "SELECT COUNT(*) FROM reports r WHERE r.chart = 2" + filter);
    EXPECT_EQ(flagged.find("Seq Scan on reports"), std::string::npos) << filter << "\n" << flagged;
  }
}

// Every index of the reports table as PostgreSQL describes it (name -> definition).
std::map<std::string, std::string> report_indexes(pg::Db& db) {
  std::map<std::string, std::string> out;
  PGresult* r = PQexec(db.handle(), "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'reports'");
  for (int i = 0; i < PQntuples(r); ++i) out[PQgetvalue(r, i, 0)] = PQgetvalue(r, i, 1);
  PQclear(r);
  return out;
}

// Version 13 on PostgreSQL: a database of version 12 with rows reaches the indexes of a new one,
// keeps its rows, and the partial indexes hold the rows of their value.
TEST(PgMigration, Version12ReachesTheNewestIndexesWithItsRows) {
  PgDatabase fresh("fresh"), old("old");
  NEEDS_SERVER(fresh);
  ASSERT_FALSE(old.url.empty());
  std::map<std::string, std::string> newest;
  {
    StoreConfig c;
    c.path = fresh.url;
    auto s = PgStore::open(c);
    ASSERT_TRUE(s) << s.error();
    newest = report_indexes((*s)->db());
  }
  EXPECT_EQ(newest.size(), 10u);  // the primary key, digest, four more on every row, four partial
  EXPECT_NE(newest["reports_flagged"].find("WHERE (chart = 2)"), std::string::npos) << newest["reports_flagged"];
  {
    auto db = pg::Db::open(old.url);
    ASSERT_TRUE(db) << db.error();
    ASSERT_TRUE(PgStore::migrate(*db, 12));
    ASSERT_EQ(PgStore::schema_version(*db).value(), 12);
    EXPECT_EQ(report_indexes(*db).size(), 11u);  // the primary key, digest and nine on every row
    // Report i: toward my prefix 198.51.100.0/24 with no flow time every third (i % 3 = 2: chart
    // 2 once open() marks them), coherent every fourth, spoof (i % 4) - 1, SUSPICIOUS every fifth.
    ASSERT_TRUE(db->exec_native(
        "INSERT INTO reports(digest, received_ns, input, peer, form, key, signature, message, coherent, spoof, class, saddr_bin,"
        " daddr_bin) SELECT int4send(i), 1000 + i, 'udp', '127.0.0.1', 'full', repeat('a', 64), '\\x00'::bytea, '{}',"
        " CASE WHEN i % 4 = 0 THEN 1 ELSE 0 END, i % 4 - 1, CASE WHEN i % 5 = 0 THEN 'SUSPICIOUS' ELSE 'INFORMATIONAL' END,"
        " '\\x00000000000000000000ffffc00002'::bytea || int4send(i % 8),"
        " CASE WHEN i % 3 = 2 THEN '\\x00000000000000000000ffffc6336402'::bytea ELSE '\\x00000000000000000000ffffcb007101'::bytea END"
        " FROM generate_series(1, 60) AS i"));
  }
  StoreConfig c;
  c.path = old.url;
  c.my_prefixes = {*receive::Cidr::parse("198.51.100.0/24")};
  auto s = PgStore::open(c);
  ASSERT_TRUE(s) << s.error();
  pg::Db& db = (*s)->db();
  EXPECT_EQ(PgStore::schema_version(db).value(), SqliteStore::kSchemaVersion);
  EXPECT_EQ(report_indexes(db), newest);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM reports"), 60);
  // Read through the partial indexes (sequential scans priced out): the rows of their value.
  (void)lines(db, "SET enable_seqscan = off");
  for (const auto& [sql, rows, index] :
       {std::tuple{"SELECT COUNT(*) FROM reports WHERE chart = 2", 20, "reports_flagged"},
        std::tuple{"SELECT COUNT(*) FROM reports WHERE coherent = 1", 15, "reports_coherent"},
        std::tuple{"SELECT COUNT(*) FROM reports WHERE spoof = 1", 15, "reports_suspects"},
        std::tuple{"SELECT COUNT(*) FROM reports WHERE class = 'SUSPICIOUS' AND class <> 'INFORMATIONAL'", 12, "reports_class"}}) {
    EXPECT_EQ(db.scalar(sql), rows) << sql;
    const std::string plan = lines(db, std::string("EXPLAIN ") + sql);
    EXPECT_NE(plan.find(index), std::string::npos) << sql << "\n" << plan;
  }
  (void)lines(db, "RESET enable_seqscan");
  // And the migrated database takes new reports.
  const receive::Item items[] = {receive::testing::item(receive::testing::signed_report(receive::testing::key(1), "n@c", "C").line)};
  auto w = (*s)->write(items);
  ASSERT_TRUE(w) << w.error();
  EXPECT_EQ(w->stored, 1u);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM reports"), 61);
}

}  // namespace
}  // namespace overflowd::store
