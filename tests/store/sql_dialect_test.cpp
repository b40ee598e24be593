// The SQLite -> PostgreSQL translation (store/sql_dialect.hpp): placeholders, the dialect table,
// the function rewrites, literals left alone, and every statement the store and the API prepare
// from statements.hpp and every migration step translating to text PostgreSQL's rules accept
// (checked here by shape; the PostgreSQL integration run executes them).
#include "store/sql_dialect.hpp"

#include <gtest/gtest.h>

#include <string>

#include "store/statements.hpp"
#include "store/store.hpp"

namespace overflowd::store {
namespace {

using dialect::postgres_unsupported;
using dialect::to_postgres;

TEST(SqlDialect, NumberedPlaceholdersKeepTheirNumbers) {
  const auto t = to_postgres("SELECT a FROM t WHERE x = ?2 AND y = ?1 AND z = ?2");
  EXPECT_EQ(t.sql, "SELECT a FROM t WHERE x = $2 AND y = $1 AND z = $2");
  EXPECT_EQ(t.parameters, 2);
}

TEST(SqlDialect, AnonymousPlaceholdersAreCounted) {
  const auto t = to_postgres("SELECT a FROM t WHERE k = ? AND (b BETWEEN ? AND ?) LIMIT ?");
  EXPECT_EQ(t.sql, "SELECT a FROM t WHERE k = $1 AND (b BETWEEN $2 AND $3) LIMIT $4");
  EXPECT_EQ(t.parameters, 4);
}

TEST(SqlDialect, NamedPlaceholdersAreNumberedOnceAndNamed) {
  const auto t = to_postgres("INSERT INTO r(a, b) VALUES(:a, :b_bin) RETURNING id; SELECT :a, x::text");
  EXPECT_EQ(t.sql, "INSERT INTO r(a, b) VALUES($1, $2) RETURNING id; SELECT $1, x::text");
  ASSERT_EQ(t.names.size(), 2u);
  EXPECT_EQ(t.names[0], "a");
  EXPECT_EQ(t.names[1], "b_bin");
}

TEST(SqlDialect, LiteralsAndQuotedNamesAreLeftAlone) {
  const auto t = to_postgres("SELECT '?1 INTEGER MAX(a, b) it''s', \"REAL\" FROM t WHERE c = ?1");
  EXPECT_EQ(t.sql, "SELECT '?1 INTEGER MAX(a, b) it''s', \"REAL\" FROM t WHERE c = $1");
}

TEST(SqlDialect, TypesOfTheSchema) {
  EXPECT_EQ(to_postgres("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, d BLOB, r REAL) WITHOUT ROWID;").sql,
            "CREATE TABLE t(id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL, d BYTEA, r DOUBLE PRECISION) ;");
  // Words inside longer names are not types.
  EXPECT_EQ(to_postgres("SELECT integers, realm, blobs FROM t").sql, "SELECT integers, realm, blobs FROM t");
}

TEST(SqlDialect, StatementsOfTheDialectTable) {
  EXPECT_EQ(to_postgres("BEGIN IMMEDIATE").sql, "BEGIN");
  EXPECT_EQ(to_postgres("INSERT OR IGNORE INTO k(a) VALUES(?1)").sql, "INSERT INTO k(a) VALUES($1) ON CONFLICT DO NOTHING");
  EXPECT_EQ(to_postgres("INSERT OR IGNORE INTO r(a) VALUES(:a) RETURNING id").sql,
            "INSERT INTO r(a) VALUES($1) ON CONFLICT DO NOTHING RETURNING id");
  EXPECT_EQ(to_postgres("SELECT k FROM c WHERE e = ?1 ORDER BY f DESC LIMIT -1 OFFSET ?2").sql,
            "SELECT k FROM c WHERE e = $1 ORDER BY f DESC LIMIT ALL OFFSET $2");
  EXPECT_EQ(to_postgres("INSERT INTO temp.gone(id) SELECT id FROM r").sql, "INSERT INTO pg_temp.gone(id) SELECT id FROM r");
}

TEST(SqlDialect, FunctionsOfTwoArgumentsAndTotal) {
  EXPECT_EQ(to_postgres("UPDATE k SET s = MAX(s, ?4), m = MIN(f, excluded.f)").sql,
            "UPDATE k SET s = GREATEST(s, $4), m = LEAST(f, excluded.f)");
  // The aggregates keep their names.
  EXPECT_EQ(to_postgres("SELECT MAX(t), MIN(t) FROM s").sql, "SELECT MAX(t), MIN(t) FROM s");
  EXPECT_EQ(to_postgres("SELECT CAST(TOTAL(r.pcount * MAX(r.sampling_interval, 1)) AS INTEGER) FROM r").sql,
            "SELECT CAST(COALESCE(SUM(r.pcount * GREATEST(r.sampling_interval, 1)), 0) AS BIGINT) FROM r");
  // Nested: a comma inside an inner call is not the outer call's.
  EXPECT_EQ(to_postgres("SELECT MAX(COALESCE(a, 0)) FROM t").sql, "SELECT MAX(COALESCE(a, 0)) FROM t");
}

TEST(SqlDialect, WhatCannotBeTranslatedIsNamed) {
  EXPECT_EQ(postgres_unsupported("PRAGMA user_version"), "PRAGMA");
  EXPECT_EQ(postgres_unsupported("UPDATE r SET c = json_extract(m, '$.a')"), "json_extract");
  EXPECT_EQ(postgres_unsupported("INSERT INTO s(a) SELECT 1 ON CONFLICT DO UPDATE SET a = 2"), "ON CONFLICT DO UPDATE");
  EXPECT_EQ(postgres_unsupported("INSERT INTO c(n) VALUES(?1) ON CONFLICT(n) DO UPDATE SET v = c.v + 1"), "");
  EXPECT_EQ(postgres_unsupported("SELECT 'PRAGMA' FROM t"), "");
}

// Every planned statement (shared by both stores) translates without anything left SQLite's own.
TEST(SqlDialect, EveryPlannedStatementCarriesOver) {
  for (const stmt::Planned& p : stmt::kPlanned) {
    SCOPED_TRACE(std::string(p.sql));
    EXPECT_EQ(postgres_unsupported(p.sql), "");
    const auto t = to_postgres(p.sql);
    EXPECT_EQ(t.sql.find('?'), std::string::npos);
    EXPECT_EQ(t.sql.find("LIMIT -1"), std::string::npos);
  }
}

// Every migration step translates, except those PostgreSQL has its own text for (pg_store.cpp).
TEST(SqlDialect, MigrationsCarryOverOrHaveTheirOwnStep) {
  for (const Migration& m : migrations()) {
    SCOPED_TRACE(m.version);
    const std::string unsupported = postgres_unsupported(m.sql);
    if (m.version == 8 || m.version == 12) {
      EXPECT_NE(unsupported, "");  // SQLite's JSON functions: kPostgresSteps has versions 8 and 12
      continue;
    }
    EXPECT_EQ(unsupported, "");
    const auto t = to_postgres(m.sql);
    EXPECT_EQ(t.sql.find("WITHOUT ROWID"), std::string::npos);
    EXPECT_EQ(t.sql.find(" INTEGER"), std::string::npos);
  }
}

}  // namespace
}  // namespace overflowd::store
