// The store's SQL is written once, in the dialect SQLite and PostgreSQL share, and translated for
// PostgreSQL as it is prepared (pg.hpp). What differs between the two is in one small table
// (sql_dialect.cpp, kWords) and a few rewrites of functions:
//
//   placeholders     ?N -> $N; ? -> $k (k counted from 1); :name -> $k (the names are returned)
//   types (DDL)      INTEGER PRIMARY KEY -> BIGSERIAL PRIMARY KEY; INTEGER -> BIGINT (SQLite's
//                    integers are 64-bit); REAL -> DOUBLE PRECISION; BLOB -> BYTEA; WITHOUT ROWID -> ''
//   statements       BEGIN IMMEDIATE -> BEGIN; INSERT OR IGNORE INTO t ... -> INSERT INTO t ...
//                    ON CONFLICT DO NOTHING; LIMIT -1 -> LIMIT ALL; temp.t -> pg_temp.t
//   functions        MAX(a, b) -> GREATEST(a, b); MIN(a, b) -> LEAST(a, b) (two arguments: the
//                    aggregates keep their name); TOTAL(x) -> COALESCE(SUM(x), 0)
//
// String literals ('...') and quoted names ("...") are copied unchanged. What cannot be translated
// (PRAGMA, json_extract, INSERT OR REPLACE, ON CONFLICT DO UPDATE without a target) is refused by
// postgres_unsupported(), so a query added for SQLite fails loudly, not subtly, on PostgreSQL.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace overflowd::store::dialect {

struct Translated {
  std::string sql;
  int parameters = 0;               // the highest $N
  std::vector<std::string> names;   // names[k-1]: the name of $k when it was :name (else empty)
};

// SQLite's text as PostgreSQL 15 takes it.
[[nodiscard]] Translated to_postgres(std::string_view sqlite_sql);

// Empty when `sqlite_sql` uses nothing to_postgres cannot carry over; else what it uses.
[[nodiscard]] std::string postgres_unsupported(std::string_view sqlite_sql);

}  // namespace overflowd::store::dialect
