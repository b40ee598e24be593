// The summaries' roll-ups (issue 12 finding 5): what /api/summary answers from, kept by the writer
// in the batch's transaction, so a summary reads a few thousand rows instead of every report.
//
// Only reports toward my prefixes with a plausible flow time are rolled up (reports.chart = 1;
// 2: toward my prefixes but with an implausible time, listed apart; 0: not toward my prefixes).
// Each table holds its sums per period of the flow start time (t, Unix ms, a multiple of res) at
// three resolutions (res: a minute, an hour, a day), so that any range reads at most ~120 periods
// per group at the resolution that fits it.
//
//   sum_time    (res, t)                                                    reports, packets, bytes
//   sum_key     (res, t, key, email, identity)                              reports, packets, bytes, first/last received
//   sum_source  (res, t, saddr)                                             reports, packets, bytes
//   sum_path    (res, saddr, t, key, email, identity, exporter, input, AS)  reports
//
// The same definitions make the writer's additions (the batch's rows), retention's subtractions
// (the rows it deletes) and a full rebuild (when --my-prefix changes); tests compare the tables
// with a recount from the reports.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace overflowd::store::rollup {

inline constexpr std::array<std::int64_t, 3> kResolutionsMs = {60'000, 3'600'000, 86'400'000};

struct Column {
  std::string_view name, expr;  // expr: over reports r and the resolution v.res
};
struct Value {
  std::string_view name, expr, merge;  // merge: the value kept when a row exists (excluded: the new one)
  bool additive = true;                // subtracted when reports go (first/last seen are not)
};
struct Table {
  std::string_view name;
  std::vector<Column> keys;
  std::vector<Value> values;
};

inline const std::vector<Table>& tables() {
  static const std::vector<Table> t = [] {
    constexpr std::string_view kT = "(r.stime / v.res) * v.res";
    const Value reports{"reports", "COUNT(*)", "reports + excluded.reports"};
    const Value packets{"packets", "CAST(TOTAL(r.pcount * MAX(r.sampling_interval, 1)) AS INTEGER)",
                        "packets + excluded.packets"};
    const Value bytes{"bytes", "CAST(TOTAL(r.bcount * MAX(r.sampling_interval, 1)) AS INTEGER)", "bytes + excluded.bytes"};
    return std::vector<Table>{
        {"sum_time", {{"t", kT}}, {reports, packets, bytes}},
        {"sum_key",
         {{"t", kT}, {"key", "r.key"}, {"email", "r.email"}, {"identity", "r.identity"}},
         {reports, packets, bytes, {"first_ns", "MIN(r.received_ns)", "MIN(first_ns, excluded.first_ns)", false},
          {"last_ns", "MAX(r.received_ns)", "MAX(last_ns, excluded.last_ns)", false}}},
        {"sum_source", {{"t", kT}, {"saddr", "r.saddr"}}, {reports, packets, bytes}},
        {"sum_path",
         {{"saddr", "r.saddr"}, {"t", kT}, {"key", "r.key"}, {"email", "r.email"}, {"identity", "r.identity"},
          {"exporter", "r.exporter"}, {"input_if", "COALESCE(r.input_if, 0)"}, {"src_as", "COALESCE(r.src_as, 0)"}},
         {reports}},
    };
  }();
  return t;
}

inline constexpr std::string_view kAllResolutions =
    "(SELECT 60000 AS res UNION ALL SELECT 3600000 UNION ALL SELECT 86400000) v";

// The grouped sums of the rolled-up reports that match `where` (over reports r), as rows of `t`,
// at each resolution of `resolutions` (a table v with a column res).
// `rolled_up` selects the rolled-up reports (nearly every report: a narrowed read takes the
// filter's index; "+r.chart = 1" keeps SQLite's planner off any index on chart).
inline std::string grouped(const Table& t, std::string_view where, std::string_view resolutions = kAllResolutions,
                           std::string_view rolled_up = "r.chart = 1") {
  std::string sql = "SELECT v.res AS res";
  std::string group = "v.res";
  for (const Column& c : t.keys) {
    sql += ", " + std::string(c.expr) + " AS " + std::string(c.name);
    group += ", " + std::string(c.expr);
  }
  for (const Value& v : t.values) sql += ", " + std::string(v.expr) + " AS " + std::string(v.name);
  sql += " FROM reports r, " + std::string(resolutions) + " WHERE " + std::string(rolled_up) + " AND (" + std::string(where) +
         ") GROUP BY " + group;
  return sql;
}

// The table as the roll-up would hold it for the reports matching `where` alone, at the resolution
// ?1 and for the periods ?2..?3 (the summary's parameters): a narrowed summary reads this, named
// as the table (WITH t AS (...)), instead of the table.
inline std::string narrowed(const Table& t, std::string_view where) {
  return std::string(t.name) + " AS (" +
         grouped(t, "(r.stime / v.res) * v.res BETWEEN ?2 AND ?3 AND (" + std::string(where) + ")",
                 "(SELECT CAST(?1 AS BIGINT) AS res) v", "+r.chart = 1") + ")";
}

// Adds the rolled-up reports matching `where` to the table.
inline std::string add(const Table& t, std::string_view where) {
  std::string cols = "res", conflict;
  for (const Column& c : t.keys) cols += ", " + std::string(c.name);
  for (const Value& v : t.values) {
    cols += ", " + std::string(v.name);
    conflict += std::string(conflict.empty() ? "" : ", ") + std::string(v.name) + " = " + std::string(v.merge);
  }
  return "INSERT INTO " + std::string(t.name) + "(" + cols + ") " + grouped(t, where) + " ON CONFLICT DO UPDATE SET " + conflict;
}

// Takes the rolled-up reports matching `where` out of the table (then: remove_empty).
inline std::string subtract(const Table& t, std::string_view where) {
  std::string set, match = std::string(t.name) + ".res = g.res";
  for (const Value& v : t.values)
    if (v.additive)
      set += std::string(set.empty() ? "" : ", ") + std::string(v.name) + " = " + std::string(t.name) + "." +
             std::string(v.name) + " - g." + std::string(v.name);
  for (const Column& c : t.keys) match += " AND " + std::string(t.name) + "." + std::string(c.name) + " = g." + std::string(c.name);
  return "UPDATE " + std::string(t.name) + " SET " + set + " FROM (" + grouped(t, where) + ") g WHERE " + match;
}
inline std::string remove_empty(const Table& t) { return "DELETE FROM " + std::string(t.name) + " WHERE reports <= 0"; }

}  // namespace overflowd::store::rollup
