// The API's queries, written once for both stores: each is a template over the connection type
// (sql::Db for SQLite, pg::Db for PostgreSQL: pg.hpp has sql::Db's shape, and the SQL is
// SQLite's text, translated by sql_dialect as pg::Db prepares it). queries.cpp and pg_queries.cpp
// instantiate them inside their own run() (the connection pool, the time limit, a reconnection);
// nothing else differs between the backends' answers. A query is added here, once.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/encoding.hpp"
#include "report/report_schema.hpp"
#include "store/queries.hpp"
#include "store/rollups.hpp"
#include "store/statements.hpp"
#include "store/store.hpp"

namespace overflowd::store::queries_impl {

using namespace receive;

using nlohmann::json;

// step()'s "a row" on both connection types (pg::kRow is SQLite's value).
inline constexpr int kRow = SQLITE_ROW;

// The answer of a query stopped at the time limit (SQLite's progress handler, PostgreSQL's
// statement_timeout): "timed_out" makes the API answer 503 with Retry-After (http_api.cpp).
inline nlohmann::json timed_out_answer(std::chrono::milliseconds limit) {
  return {{"error", "the query took longer than " + std::to_string(limit.count()) + " ms: narrow it (a range, a limit)"},
          {"timed_out", true}};
}


inline std::int64_t clamp_limit(std::int64_t v) { return std::clamp<std::int64_t>(v, 1, kMaxLimit); }
inline double seconds(std::int64_t ns) { return static_cast<double>(ns) / 1e9; }
inline std::int64_t to_ns(double s) {
  if (!std::isfinite(s)) return s > 0 ? INT64_MAX : INT64_MIN;
  if (s > 9.2e9) return INT64_MAX;
  if (s < -9.2e9) return INT64_MIN;
  return static_cast<std::int64_t>(s * 1e9);
}

// Text from the database as valid UTF-8 for JSON (raw bytes of refused inputs may be anything).
inline std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) out.push_back(static_cast<char>(c));
    else if (c == '\n' || c == '\t') out.push_back(' ');
    else out += "\xef\xbf\xbd";  // U+FFFD
  }
  return out;
}

// Appends "(col BETWEEN ? AND ? OR ...)" for the prefixes and records the bounds to bind.
struct Where {
  std::string sql;
  std::vector<std::variant<std::int64_t, double, std::string, Key16>> args;
  void add(const std::string& clause) { sql += sql.empty() ? " WHERE " + clause : " AND " + clause; }
  void prefixes(const std::string& col, const std::vector<Cidr>& ps) {
    if (ps.empty()) return;
    std::string c = "(";
    for (std::size_t i = 0; i < ps.size(); ++i) {
      if (i) c += " OR ";
      c += col + " BETWEEN ? AND ?";
      args.emplace_back(low(ps[i]));
      args.emplace_back(high(ps[i]));
    }
    add(c + ")");
  }
  template <class Stmt>
  void bind(Stmt& st, int first = 1) const {
    int i = first;
    for (const auto& a : args) {
      if (const auto* v = std::get_if<std::int64_t>(&a)) st.bind(i, *v);
      else if (const auto* d = std::get_if<double>(&a)) st.bind(i, *d);
      else if (const auto* s = std::get_if<std::string>(&a)) st.bind(i, *s);
      else st.bind_blob(i, std::get<Key16>(a));
      ++i;
    }
  }
};

// The narrowing as SQL over reports `r` (prefix "r." or ""), with numbered parameters from
// `first` (the summary's statements keep ?1..?9 for their own; 0: anonymous ?). Every clause is
// standard SQL.
struct Narrowed {
  std::string sql;  // "" or " AND ..."
  std::vector<std::variant<std::int64_t, std::string, Key16>> args;
  template <class Stmt>
  void bind(Stmt& st, int first) const {
    int i = first;
    for (const auto& a : args) {
      if (const auto* v = std::get_if<std::int64_t>(&a)) st.bind(i, *v);
      else if (const auto* s = std::get_if<std::string>(&a)) st.bind(i, *s);
      else st.bind_blob(i, std::get<Key16>(a));
      ++i;
    }
  }
};
// `beside_index`: the statement reads one source's or one key's reports through that column's
// index (the summary's per-source and per-network statements), so the filter's key and class are
// written so that no index is taken for them ("|| ''": standard, and the same match); the arguments
// are the same either way.
inline Narrowed narrowed(const Narrowing& n, std::string_view r, int first, bool beside_index = false) {
  Narrowed out;
  const std::string no_index = beside_index ? " || ''" : "";
  auto param = [&](auto v) {
    out.args.emplace_back(std::move(v));
    return first == 0 ? std::string("?") : "?" + std::to_string(first + static_cast<int>(out.args.size()) - 1);
  };
  const std::string p(r);
  if (!n.key.empty()) {
    std::string k = n.key;
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.sql += " AND " + p + "key" + no_index + " = " + param(k);
  }
  // (Each parameter is made before the text that places it: the operands of + are unsequenced.)
  for (const auto& [column, range] : {std::pair{"saddr_bin", n.saddr}, std::pair{"daddr_bin", n.daddr}}) {
    if (!range) continue;
    const std::string lo = param(low(*range));
    const std::string hi = param(high(*range));
    out.sql += " AND " + p + column + " BETWEEN " + lo + " AND " + hi;
  }
  if (!n.report_class.empty()) {
    out.sql += " AND " + p + "class" + no_index + " = " + param(n.report_class);
    if (!beside_index && n.report_class != stmt::kCommonClass) out.sql += " AND " + p + std::string(stmt::uncommon_class);
  }
  if (!n.reason.empty()) {
    // A reason's class or a rule's name (metadata.reasons), from their index (report_reasons, one
    // row per reason, written with the report). Beside another index the set is only probed.
    const std::string by_class = param(n.reason);
    const std::string by_rule = param(n.reason);
    out.sql += " AND " + p + "id" + (beside_index ? " + 0" : "") +
               " IN (SELECT report_id FROM report_reasons WHERE class = " + by_class + " OR rule = " + by_rule + ")";
  }
  return out;
}

// The columns a report row is read with: the receiver's own, then the report schema's.
inline const std::string& report_columns() {
  static const std::string columns = [] {
    std::string c = "id, received_ns, input, peer, form, key, time_flag, duplicates, spoof, signature, message, kid";
    for (const report::SchemaField& field : report::report_schema())
      if (!field.column.empty()) c += ", " + std::string(field.column);
    return c;
  }();
  return columns;
}

// The index of each column in a statement over report_columns(), looked up by name once per query.
struct ReportColumns {
  int id, received_ns, input, peer, form, key, time_flag, duplicates, spoof, signature, message, kid;
  std::vector<int> field;  // per schema row; -1: not stored
  template <class Stmt>
  explicit ReportColumns(const Stmt& q)
      : id(q.column("id")), received_ns(q.column("received_ns")), input(q.column("input")), peer(q.column("peer")),
        form(q.column("form")), key(q.column("key")), time_flag(q.column("time_flag")),
        duplicates(q.column("duplicates")), spoof(q.column("spoof")), signature(q.column("signature")),
        message(q.column("message")), kid(q.column("kid")) {
    for (const report::SchemaField& row : report::report_schema())
      field.push_back(row.column.empty() ? -1 : q.column(row.column));
  }
};

// The stored fields of a report row, back in ReportFields.
template <class Stmt>
ReportFields read_fields(const Stmt& q, const ReportColumns& c) {
  ReportFields f;
  const auto schema = report::report_schema();
  for (std::size_t i = 0; i < schema.size(); ++i) {
    const report::SchemaField& field = schema[i];
    const int col = c.field[i];
    if (col < 0) continue;
    switch (field.type) {
      case report::FieldType::text:
        f.*field.text = q.text(col);
        break;
      case report::FieldType::integer:
        f.*field.integer = q.i64(col);
        break;
      case report::FieldType::boolean:
        f.*field.flag = q.i64(col) != 0;
        break;
      case report::FieldType::number:
        f.*field.present = !q.is_null(col);
        f.*field.number = q.f64(col);
        break;
      case report::FieldType::address:
        f.*field.address = core::IpAddress::parse(q.text(col)).value_or(core::IpAddress{});
        break;
    }
  }
  return f;
}

// Where the API puts a section's fields: contact, source (flowdata.sourcetype), flow
// (flowdata.data); metadata's at the top.
inline json* api_group(json& r, report::Section s) {
  switch (s) {
    case report::Section::contact:
      return &r["contact"];
    case report::Section::metadata:
      return &r;
    case report::Section::sourcetype:
      return &r["source"];
    case report::Section::data:
      return &r["flow"];
  }
  return &r;
}

inline const char* time_flag_name(std::int64_t v) {
  switch (v) {
    case 0:
      return "ok";
    case 1:
      return "future";
    case 2:
      return "past";
    case 3:
      return "missing";
  }
  return "unknown";
}

template <class Stmt>
json report_row(const Stmt& q, const ReportColumns& c, bool raw) {
  json r = {
      {"id", q.i64(c.id)},
      {"received", seconds(q.i64(c.received_ns))},
      {"input", q.text(c.input)},
      {"peer", q.text(c.peer)},
      {"form", q.text(c.form)},
      {"key", q.text(c.key)},
      {"time_flag", time_flag_name(q.i64(c.time_flag))},
      {"duplicates", q.i64(c.duplicates)},
      {"spoof", to_string(static_cast<SpoofStatus>(q.i64(c.spoof)))},
      {"sealed", !q.text(c.kid).empty()},
      {"kid", q.text(c.kid)},
  };
  const auto schema = report::report_schema();
  for (std::size_t i = 0; i < schema.size(); ++i) {
    const report::SchemaField& field = schema[i];
    const int col = c.field[i];
    if (col < 0) continue;
    json& value = (*api_group(r, field.section))[std::string(field.json)];
    switch (field.type) {
      case report::FieldType::text:
      case report::FieldType::address:  // as stored: the text the store formatted
        value = q.text(col);
        break;
      case report::FieldType::integer:
        value = q.i64(col);
        break;
      case report::FieldType::boolean:
        value = q.i64(col) != 0;
        break;
      case report::FieldType::number:
        value = q.is_null(col) ? json(nullptr) : json(q.f64(col));
        break;
    }
  }
  if (raw) {
    // The compact wire form: any NaCl client (or `overflowd verify`) re-verifies it.
    const std::string sig = q.blob(c.signature), msg = q.text(c.message);
    std::vector<std::uint8_t> signed_message(sig.begin(), sig.end());
    signed_message.insert(signed_message.end(), msg.begin(), msg.end());
    std::string b64;
    core::append_base64(b64, signed_message);
    r["signed"] = {{"key", q.text(c.key)}, {"signature", b64}};
    r["reverified"] = reverify(q.text(c.key), sig, msg);
  }
  return r;
}

template <class Db>
json reports(Db& db, const ReportFilter& f) {
  Where w;
  if (!f.key.empty()) {
    w.add("key = ?");
    std::string k = f.key;
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    w.args.emplace_back(k);
  }
  if (f.saddr) w.prefixes("saddr_bin", {*f.saddr});
  if (f.daddr) w.prefixes("daddr_bin", {*f.daddr});
  if (!f.report_class.empty()) {
    w.add("class = ?");
    w.args.emplace_back(f.report_class);
    if (f.report_class != stmt::kCommonClass) w.add(std::string(stmt::uncommon_class));
  }
  if (!f.reason.empty()) {
    Narrowing only_reason;
    only_reason.reason = f.reason;
    const Narrowed n = narrowed(only_reason, "", 0);  // two anonymous parameters, in order
    w.add(n.sql.substr(5));
    for (const auto& a : n.args) w.args.emplace_back(std::get<std::string>(a));
  }
  if (f.since) {
    w.add("received_ns >= ?");
    w.args.emplace_back(to_ns(*f.since));
  }
  if (f.until) {
    w.add("received_ns <= ?");
    w.args.emplace_back(to_ns(*f.until));
  }
  if (f.before) {
    w.add("id < ?");
    w.args.emplace_back(*f.before);
  }
  auto q = db.prepare("SELECT " + report_columns() + " FROM reports" + w.sql + " ORDER BY id DESC LIMIT ?");
  if (!q) return {{"error", q.error()}};
  w.bind(*q);
  q->bind(static_cast<int>(w.args.size()) + 1, clamp_limit(f.limit));
  json out = json::array();
  const ReportColumns columns(*q);
  while (q->step() == kRow) out.push_back(report_row(*q, columns, f.raw));
  return {{"reports", out}};
}

template <class Db>
json paths(Db& db, const PathQuery& pq) {
  {
    auto groups = db.prepare(stmt::path_groups);
    auto hops = db.prepare(stmt::path_hops);
    auto by_id = db.prepare("SELECT " + report_columns() + " FROM reports WHERE id = ?1");
    if (!groups || !hops || !by_id) return {{"error", db.error()}};
    const std::int64_t bucket_ms = std::clamp<std::int64_t>(pq.bucket_s, 1, 86'400) * 1000;
    groups->bind(1, pq.since ? to_ns(*pq.since) : std::int64_t{0})
        .bind(2, pq.until ? to_ns(*pq.until) : INT64_MAX)
        .bind(3, bucket_ms)
        .bind(4, std::max<std::int64_t>(pq.min_keys, 1))
        .bind(5, clamp_limit(pq.limit));
    json out = json::array();
    const ReportColumns columns(*by_id);
    while (groups->step() == kRow) {
      const std::int64_t bucket = groups->i64(5);
      hops->bind_blob(1, groups->blob(0)).bind_blob(2, groups->blob(1)).bind(3, groups->i64(2)).bind(4, groups->i64(3))
          .bind(5, groups->i64(4)).bind(6, bucket * bucket_ms).bind(7, (bucket + 1) * bucket_ms);
      std::vector<std::int64_t> ids;
      while (hops->step() == kRow) ids.push_back(hops->i64(0));
      hops->reset();
      std::vector<json> list;
      for (const std::int64_t id : ids) {
        by_id->bind(1, id);
        if (by_id->step() == kRow) list.push_back(report_row(*by_id, columns, false));
        by_id->reset();
      }
      if (list.empty()) continue;
      // By time first: flow start, then receive time.
      std::stable_sort(list.begin(), list.end(), [](const json& a, const json& b) {
        return std::pair(a["flow"].value("stime", std::int64_t{0}), a.value("received", 0.0)) <
               std::pair(b["flow"].value("stime", std::int64_t{0}), b.value("received", 0.0));
      });
      // By next hop when the reports chain: each hop's next hop is the next one's exporter.
      std::string order = "time";
      const std::size_t n = list.size();
      std::vector<std::size_t> next(n, n);
      std::vector<int> preds(n, 0);
      for (std::size_t i = 0; i < n; ++i) {
        const std::string nh = list[i]["flow"].value("nexthop", std::string());
        if (nh.empty()) continue;
        for (std::size_t j = 0; j < n; ++j)
          if (j != i && list[j]["flow"].value("exporter", std::string()) == nh) {
            next[i] = j;
            ++preds[j];
            break;
          }
      }
      if (n > 1) {
        const auto head = std::find(preds.begin(), preds.end(), 0);
        if (std::count(preds.begin(), preds.end(), 0) == 1 && std::count(next.begin(), next.end(), n) == 1) {
          std::vector<json> chained;
          for (std::size_t at = static_cast<std::size_t>(head - preds.begin()); at < n && chained.size() < n; at = next[at])
            chained.push_back(list[at]);
          if (chained.size() == n) {
            list = std::move(chained);
            order = "nexthop";
          }
        }
      }
      const json& first = list.front()["flow"];
      out.push_back({{"flow",
                      {{"saddr", first.value("saddr", "")},
                       {"daddr", first.value("daddr", "")},
                       {"sport", groups->i64(2)},
                       {"dport", groups->i64(3)},
                       {"protocol", groups->i64(4)}}},
                     {"bucket_start", bucket * bucket_ms},
                     {"keys", groups->i64(6)},
                     {"order", order},
                     {"hops", list}});
    }
    return {{"paths", out}, {"bucket_s", bucket_ms / 1000}};
  }
}

// Runs `sql` (?1: a key, or '' for every key; ?2: a limit) and gathers row(q) of each row.
template <class Db, class Row>
json rows_by_key(Db& db, std::string_view sql, const std::string& key, std::int64_t limit, Row row) {
  auto q = db.prepare(sql);
  if (!q) return {{"error", q.error()}};
  q->bind(1, key).bind(2, clamp_limit(limit));
  json out = json::array();
  while (q->step() == kRow) out.push_back(row(*q));
  return out;
}

template <class Db>
json keys(Db& db, const std::string& key, std::int64_t limit) {
  auto contacts = db.prepare(stmt::key_contacts);
  if (!contacts) return {{"error", db.error()}};
  json out = rows_by_key(
      db, key.empty() ? stmt::keys_all : stmt::keys_one, key, limit, [&](const auto& q) -> json {
        const std::string k = q.text(0);
        json cs = json::array();
        contacts->bind(1, k);
        while (contacts->step() == kRow)
          cs.push_back({{"email", contacts->text(0)},
                        {"identity", contacts->text(1)},
                        {"first_seen", seconds(contacts->i64(2))},
                        {"last_seen", seconds(contacts->i64(3))},
                        {"reports", contacts->i64(4)}});
        contacts->reset();
        return {{"key", k},
                {"first_seen", seconds(q.i64(1))},
                {"last_seen", seconds(q.i64(2))},
                {"reports", q.i64(3)},
                {"exporters", q.i64(4)},
                {"prefixes", q.i64(5)},
                {"contact", {{"email", q.text(6)}, {"identity", q.text(7)}}},
                {"contacts", cs},
                {"alerts", q.i64(8)},
                // Key continuity through a rotation statement: the key this one succeeds ("" none).
                {"rotated_from", q.text(9)},
                {"rotated_at", q.i64(10) ? json(seconds(q.i64(10))) : json(nullptr)}};
      });
  if (out.is_object()) return out;  // an error
  return {{"keys", out}};
}

template <class Db>
json alerts(Db& db, const std::string& key, std::int64_t limit) {
  json out = rows_by_key(db, key.empty() ? stmt::alerts_all : stmt::alerts_one, key, limit, [](const auto& q) -> json {
                           json detail = json::parse(q.text(5), nullptr, false);
                           if (detail.is_discarded()) detail = nullptr;
                           return {{"id", q.i64(0)},
                                   {"created", seconds(q.i64(1))},
                                   {"kind", q.text(2)},
                                   {"key", q.text(3)},
                                   {"report_id", q.is_null(4) ? json(nullptr) : json(q.i64(4))},
                                   {"detail", detail}};
                         });
  if (out.is_object()) return out;  // an error
  return {{"alerts", out}};
}

template <class Db>
json invalid(Db& db, std::int64_t limit) {
  auto q = db.prepare("SELECT id, received_ns, input, peer, reason, raw FROM invalid ORDER BY id DESC LIMIT ?1");
  if (!q) return {{"error", q.error()}};
  q->bind(1, clamp_limit(limit));
  json out = json::array();
  while (q->step() == kRow) {
    const std::string raw = q->blob(5);
    out.push_back({{"id", q->i64(0)},
                   {"received", seconds(q->i64(1))},
                   {"input", q->text(2)},
                   {"peer", q->text(3)},
                   {"reason", q->text(4)},
                   {"size", raw.size()},
                   {"preview", printable(std::string_view(raw).substr(0, 300))}});
  }
  return {{"invalid", out}};
}

template <class Db>
json counters(Db& db) {
  json c = json::object();
  if (auto q = db.prepare("SELECT name, value FROM counters ORDER BY name")) {
    while (q->step() == kRow) c[q->text(0)] = q->i64(1);
  }
  json tables = json::object();
  for (const char* t : {"reports", "invalid", "keys", "alerts"})
    tables[t] = db.scalar(std::string("SELECT COUNT(*) FROM ") + t).value_or(0);
  return {{"counters", c}, {"rows", tables}};
}

template <class Db>
json summary(Db& db, const SummaryQuery& sq) {
  json out;
  json prefixes = json::array();
  for (const auto& p : sq.my_prefixes) prefixes.push_back(p.to_string());
  out["my_prefixes"] = prefixes;
  out["reporters"] = json::array();
  out["series"] = json::array();
  out["top_sources"] = json::array();
  out["flagged"] = {{"reports", 0}, {"newest", json::array()}};
  if (sq.my_prefixes.empty()) {
    out["note"] = "no --my-prefix configured: nothing is known to be mine";
    return out;
  }
  // Narrowed: each roll-up is read as the reports that match would make it (WITH sum_x AS
  // (...), rollups.hpp), through the filter's index, at the resolution ?1 and periods ?2..?3.
  // A victim filter that holds every prefix of mine narrows nothing the roll-ups do not hold
  // already (the page's "my prefix" with one prefix): the roll-ups answer.
  Narrowing filter = sq.filter;
  if (filter.daddr && std::all_of(sq.my_prefixes.begin(), sq.my_prefixes.end(), [&](const Cidr& p) {
        return low(*filter.daddr) <= low(p) && high(p) <= high(*filter.daddr);
      }))
    filter.daddr.reset();
  const bool narrow = filter.any();
  const Narrowed nf = narrowed(filter, "r.", 10);
  const Narrowed nf_beside = narrowed(filter, "r.", 10, true);  // the same arguments
  out["narrowed"] = narrow;
  // A source's reports are read through saddr_bin (?8), but for a source address that does not
  // parse (stored without its 16-byte form): by its text alone.
  bool source_by_bin = true;
  auto sql_of = [&](std::string_view text) {
    std::string with;
    if (narrow) {
      // A statement about one source (?4, its 16-byte form ?8) reads only that source's reports,
      // through the index on saddr_bin; one about one network (key ?5, contact ?6, ?7) only that
      // key's, through the index on key. Otherwise each would group every matching report again.
      const bool one_source = text.find("saddr = ?4") != std::string_view::npos;
      const bool one_key = text.find("key = ?5") != std::string_view::npos;
      const bool one_contact = text.find("email = ?6") != std::string_view::npos;
      std::string where = "1 = 1" + (one_source || one_key ? nf_beside.sql : nf.sql);
      if (one_source) where += source_by_bin ? " AND r.saddr = ?4 AND r.saddr_bin = ?8" : " AND r.saddr = ?4";
      if (one_key) where += " AND r.key = ?5";
      if (one_contact) where += " AND r.email = ?6 AND r.identity = ?7";
      for (const rollup::Table& t : rollup::tables())
        if (text.find(t.name) != std::string_view::npos)
          with += (with.empty() ? "WITH " : ", ") + rollup::narrowed(t, where);
    }
    return with.empty() ? std::string(text) : with + " " + std::string(text);
  };
  // Binds the narrowing (again after each reset, which clears every binding).
  auto narrow_binds = [&](auto& q) {
    if (narrow) nf.bind(q, 10);
  };
  // The range, by flow start time: as asked, or the span of what is rolled up (read at the day
  // resolution). It is read at the finest resolution that gives at most ~120 periods, rounded
  // outward to whole periods (the answer says which).
  std::int64_t from_ms = sq.since ? to_ns(*sq.since) / 1'000'000 : INT64_MIN;
  std::int64_t to_ms = sq.until ? to_ns(*sq.until) / 1'000'000 : INT64_MAX;
  if (narrow && !sq.since && !sq.until) {
    // Narrowed, all that is stored: the first and the last minute period of the matching reports,
    // in one pass (what the search below finds, without grouping them six times).
    auto span = db.prepare("SELECT MIN((r.stime / 60000) * 60000), MAX((r.stime / 60000) * 60000) FROM reports r"
                           " WHERE +r.chart = 1" + nf.sql);
    if (!span) return {{"error", db.error()}};
    nf.bind(*span, 10);
    const bool any = span->step() == kRow && !span->is_null(0);
    from_ms = any ? span->i64(0) : 0;
    to_ms = any ? span->i64(1) + rollup::kResolutionsMs.front() - 1 : 0;
  } else if (!sq.since || !sq.until) {
    // The span of the roll-ups: found at the day resolution, narrowed at the hour and the minute.
    auto first = db.prepare(sql_of(stmt::sum_first));
    auto last = db.prepare(sql_of(stmt::sum_last));
    if (!first || !last) return {{"error", db.error()}};
    std::int64_t lo = from_ms, hi = to_ms;
    bool any = false;
    for (auto r = rollup::kResolutionsMs.rbegin(); r != rollup::kResolutionsMs.rend(); ++r) {
      first->bind(1, *r).bind(2, lo).bind(3, hi);
      last->bind(1, *r).bind(2, lo).bind(3, hi);
      narrow_binds(*first);
      narrow_binds(*last);
      const bool found = first->step() == kRow && !first->is_null(0) && last->step() == kRow;
      if (found) {
        lo = std::max(lo, first->i64(0));
        hi = std::min(hi, last->i64(0) + *r - 1);
      }
      first->reset();
      last->reset();
      if (!found) break;
      any = true;
    }
    if (!sq.since) from_ms = any ? lo : 0;
    if (!sq.until) to_ms = any ? hi : 0;
  }
  if (to_ms < from_ms) to_ms = from_ms;
  std::int64_t res = rollup::kResolutionsMs.back();
  for (const std::int64_t r : rollup::kResolutionsMs) {
    if ((static_cast<double>(to_ms) - static_cast<double>(from_ms)) / static_cast<double>(r) <= 120.0) {
      res = r;
      break;
    }
  }
  auto floor_to = [](std::int64_t v, std::int64_t m) { return v / m * m - ((v % m != 0 && v < 0) ? m : 0); };
  const std::int64_t t0 = floor_to(from_ms, res), t1 = floor_to(to_ms, res);
  out["range"] = {{"since", static_cast<double>(t0) / 1000.0}, {"until", static_cast<double>(t1 + res) / 1000.0},
                  {"resolution_s", res / 1000}};
  // The answer's version: the same periods and the same reports (ids only grow; retention takes
  // the oldest) give the same answer, so a page that holds it is told so and reads nothing more.
  {
    std::int64_t lo_id = 0, hi_id = 0;
    if (auto ids = db.prepare("SELECT MIN(id), MAX(id) FROM reports"); ids && ids->step() == kRow) {
      lo_id = ids->i64(0);
      hi_id = ids->i64(1);
    }
    // A suspect later cleared (my exports caught up: the writer's tick stores the verdict and
    // counts spoof.cleared) changes no id: the counter is in the version, so the page reads the
    // summary and the spoofing verdicts again.
    std::int64_t cleared = 0;
    if (auto c = db.prepare("SELECT value FROM counters WHERE name = 'spoof.cleared'"); c && c->step() == kRow)
      cleared = c->i64(0);
    const std::string version = std::to_string(lo_id) + "-" + std::to_string(hi_id) + "-c" + std::to_string(cleared) + "-" +
                                std::to_string(t0) + "-" +
                                std::to_string(t1) + "-" + std::to_string(res) + "-" + std::to_string(sq.bucket_s) + "-" +
                                std::to_string(sq.top) + "-" + std::to_string(sq.per_network) + "-" + sq.series_key + "-" +
                                std::to_string(std::hash<std::string>{}(nf.sql + [&] {
                                  std::string a;  // the narrowing's values: another filter, another version
                                  for (const auto& v : nf.args)
                                    if (const auto* t = std::get_if<std::string>(&v)) a += *t + '\n';
                                    else if (const auto* k = std::get_if<Key16>(&v)) a += std::string(k->begin(), k->end()) + '\n';
                                  return a;
                                }()));
    if (!sq.unless.empty() && sq.unless == version) return {{"unchanged", true}, {"version", version}};
    out["version"] = version;
    out["last_id"] = hi_id;
  }
  const std::int64_t top = std::clamp<std::int64_t>(sq.top, 1, 100);
  auto prepare = [&](std::string_view sql) {
    auto q = db.prepare(sql_of(sql));
    if (q) {
      q->bind(1, res).bind(2, t0).bind(3, t1);
      narrow_binds(*q);
    }
    return q;
  };
  if (!sq.series_key.empty()) {
    // One key's series alone (the key view's chart), in the summary's buckets.
    std::int64_t bucket = std::max<std::int64_t>(sq.bucket_s, 0) * 1000;
    bucket = std::max({bucket, res, (t1 - t0 + res) / 120});
    bucket = (bucket + res - 1) / res * res;
    out["bucket_s"] = static_cast<double>(bucket) / 1000.0;
    out["key_series"] = json::array();
    auto q = prepare(stmt::sum_one_key_series);
    if (!q) return {{"error", q.error()}};
    q->bind(4, bucket).bind(5, sq.series_key);
    while (q->step() == kRow)
      out["key_series"].push_back({{"t", static_cast<double>(t0 + q->i64(0) * bucket) / 1000.0},
                                   {"reports", q->i64(1)}, {"packets", q->i64(2)}});
    return out;
  }

  // Narrowed, each statement groups the matching reports again: the totals, the series and its
  // keys per bucket are summed from the networks' series (below), read in one pass.
  if (!narrow) {
    if (auto q = prepare((stmt::sum_totals)); q && q->step() == kRow)
      out["totals"] = {{"reports", q->i64(0)}, {"packets", q->i64(1)}, {"bytes", q->i64(2)}};
    if (auto q = prepare((stmt::sum_keys)); q && q->step() == kRow)
      out["totals"]["keys"] = q->i64(0);
  }

  // Who reports flows to me: per key and contact as signed in those reports (a key that changed
  // its contact is listed once per contact), with the key's other contacts beside.
  auto other_contacts = db.prepare(stmt::key_contacts);
  auto others = [&](const std::string& key, const std::string& email, const std::string& identity) {
    json cs = json::array();
    if (!other_contacts) return cs;
    other_contacts->bind(1, key);
    while (other_contacts->step() == kRow)
      if (other_contacts->text(0) != email || other_contacts->text(1) != identity)
        cs.push_back({{"email", other_contacts->text(0)}, {"identity", other_contacts->text(1)},
                      {"first_seen", seconds(other_contacts->i64(2))}, {"last_seen", seconds(other_contacts->i64(3))}});
    other_contacts->reset();
    return cs;
  };
  // Volume over time, by flow start time, in buckets of a whole number of periods.
  std::int64_t bucket = std::max<std::int64_t>(sq.bucket_s, 0) * 1000;
  bucket = std::max({bucket, res, (t1 - t0 + res) / 120});
  bucket = (bucket + res - 1) / res * res;
  out["bucket_s"] = static_cast<double>(bucket) / 1000.0;
  // Each of the first `per_network` reporters' own series, from the same roll-up (sum_key).
  // Narrowed, every network's series is read in one pass (one statement per network would read
  // that key's reports each time); from the roll-ups, one indexed statement per network.
  // The same rows give the whole series (sums per bucket) and its keys per bucket.
  std::map<std::tuple<std::string, std::string, std::string>, json> all_series;
  struct Bucket {
    std::int64_t reports = 0, packets = 0, bytes = 0;
    std::set<std::string> keys;
  };
  std::map<std::int64_t, Bucket> narrowed_buckets;
  if (narrow) {
    if (auto q = prepare(stmt::sum_all_key_series)) {
      q->bind(4, bucket);
      while (q->step() == kRow) {
        json& points = all_series[{q->text(0), q->text(1), q->text(2)}];
        if (points.is_null()) points = json::array();
        points.push_back({{"t", static_cast<double>(t0 + q->i64(3) * bucket) / 1000.0},
                          {"reports", q->i64(4)}, {"packets", q->i64(5)}});
        Bucket& b = narrowed_buckets[q->i64(3)];
        b.reports += q->i64(4);
        b.packets += q->i64(5);
        b.bytes += q->i64(6);
        b.keys.insert(q->text(0));
      }
    }
  }
  auto network_series = prepare(stmt::sum_key_series);
  auto series_of = [&](const std::string& key, const std::string& email, const std::string& identity) {
    if (narrow) {
      const auto it = all_series.find({key, email, identity});
      return it == all_series.end() ? json::array() : std::move(it->second);
    }
    json points = json::array();
    if (!network_series) return points;
    network_series->bind(1, res).bind(2, t0).bind(3, t1).bind(4, bucket).bind(5, key).bind(6, email).bind(7, identity);
    narrow_binds(*network_series);
    while (network_series->step() == kRow)
      points.push_back({{"t", static_cast<double>(t0 + network_series->i64(0) * bucket) / 1000.0},
                        {"reports", network_series->i64(1)}, {"packets", network_series->i64(2)}});
    network_series->reset();
    return points;
  };
  if (auto q = prepare((stmt::sum_reporters))) {
    q->bind(4, top);
    std::int64_t n = 0;
    while (q->step() == kRow) {
      json series = n++ < sq.per_network ? series_of(q->text(0), q->text(1), q->text(2)) : json(nullptr);
      out["reporters"].push_back({{"key", q->text(0)},
                                  {"reports", q->i64(3)},
                                  {"packets", q->i64(4)},
                                  {"bytes", q->i64(5)},
                                  {"first", seconds(q->i64(6))},
                                  {"last", seconds(q->i64(7))},
                                  {"contact", {{"email", q->text(1)}, {"identity", q->text(2)}}},
                                  {"other_contacts", others(q->text(0), q->text(1), q->text(2))},
                                  {"exporters", q->i64(8)},
                                  {"series", std::move(series)}});
    }
  }
  {
    std::map<std::int64_t, json> points;
    for (const auto& [b, n] : narrowed_buckets)
      points[b] = {{"t", static_cast<double>(t0 + b * bucket) / 1000.0}, {"reports", n.reports}, {"packets", n.packets},
                   {"bytes", n.bytes}, {"keys", static_cast<std::int64_t>(n.keys.size())}};
    if (!narrow) {
      if (auto q = prepare((stmt::sum_series))) {
        q->bind(4, bucket);
        while (q->step() == kRow)
          points[q->i64(0)] = {{"t", static_cast<double>(t0 + q->i64(0) * bucket) / 1000.0},
                               {"reports", q->i64(1)}, {"packets", q->i64(2)}, {"bytes", q->i64(3)}, {"keys", 0}};
      }
      if (auto q = prepare((stmt::sum_series_keys))) {
        q->bind(4, bucket);
        while (q->step() == kRow)
          if (auto it = points.find(q->i64(0)); it != points.end()) it->second["keys"] = q->i64(1);
      }
    } else {
      std::int64_t reports = 0, packets = 0, bytes = 0;
      std::set<std::string> keys;
      for (const auto& [b, n] : narrowed_buckets) {
        reports += n.reports;
        packets += n.packets;
        bytes += n.bytes;
        keys.insert(n.keys.begin(), n.keys.end());
      }
      out["totals"] = {{"reports", reports}, {"packets", packets}, {"bytes", bytes}, {"keys", static_cast<std::int64_t>(keys.size())}};
    }
    for (auto& [b, p] : points) out["series"].push_back(std::move(p));
  }

  // The top sources of traffic toward me, and the networks on their path (with the contact each
  // signed into its reports about the source).
  if (auto q = prepare((stmt::sum_sources))) {
    q->bind(4, top);
    // Stmt::reset clears the bindings too: each source binds the range again.
    auto keys_by_bin = prepare((stmt::sum_source_keys));
    auto path_by_bin = prepare((stmt::sum_path));
    std::optional<decltype(keys_by_bin)> keys_by_text, path_by_text;  // made when first needed
    while (q->step() == kRow) {
      const std::string saddr = q->text(0);
      std::int64_t n_keys = 0;
      const auto address = core::IpAddress::parse(saddr);
      const bool by_bin = !narrow || address.has_value();
      if (!by_bin && !keys_by_text) {
        source_by_bin = false;
        keys_by_text.emplace(prepare((stmt::sum_source_keys)));
        path_by_text.emplace(prepare((stmt::sum_path)));
        source_by_bin = true;
      }
      auto& keys = by_bin ? keys_by_bin : *keys_by_text;
      auto& path = by_bin ? path_by_bin : *path_by_text;
      const Key16 saddr_bin = to_key16(address.value_or(core::IpAddress{}));
      if (keys) {
        keys->bind(1, res).bind(2, t0).bind(3, t1).bind(4, saddr);
        if (narrow && by_bin) keys->bind_blob(8, saddr_bin);
        narrow_binds(*keys);
        if (keys->step() == kRow) n_keys = keys->i64(0);
        keys->reset();
      }
      json networks = json::array();
      if (path) {
        path->bind(1, res).bind(2, t0).bind(3, t1).bind(4, saddr);
        if (narrow && by_bin) path->bind_blob(8, saddr_bin);
        narrow_binds(*path);
        while (path->step() == kRow)
          networks.push_back({{"key", path->text(0)},
                              {"contact", {{"email", path->text(1)}, {"identity", path->text(2)}}},
                              {"other_contacts", others(path->text(0), path->text(1), path->text(2))},
                              {"exporter", path->text(3)},
                              {"input", path->i64(4)},
                              {"src_as", path->i64(5)},
                              {"reports", path->i64(6)}});
        path->reset();
      }
      out["top_sources"].push_back({{"saddr", saddr},
                                    {"reports", q->i64(1)},
                                    {"packets", q->i64(2)},
                                    {"bytes", q->i64(3)},
                                    {"keys", n_keys},
                                    {"seen_by", networks}});
    }
  }

  // Reports toward me whose flow time is implausible (or whose report time was flagged): kept out
  // of the charts, listed apart (the newest).
  if (auto q = db.prepare("SELECT COUNT(*) FROM reports r WHERE r.chart = 2" + nf.sql)) {
    nf.bind(*q, 10);
    if (q->step() == kRow) out["flagged"]["reports"] = q->i64(0);
  }
  if (auto q = db.prepare("SELECT " + report_columns() + " FROM reports r WHERE r.chart = 2" + nf.sql + " ORDER BY id DESC LIMIT 20")) {
    nf.bind(*q, 10);
    const ReportColumns columns(*q);
    while (q->step() == kRow) out["flagged"]["newest"].push_back(report_row(*q, columns, false));
  }
  return out;
}

template <class Db>
json spoofing(Db& db, const SpoofQuery& sq, const SpoofRecheck& recheck) {
  json out;
  json prefixes = json::array();
  for (const auto& p : sq.my_prefixes) prefixes.push_back(p.to_string());
  out["my_prefixes"] = prefixes;
  out["suspects"] = json::array();
  out["since"] = sq.since ? json(*sq.since) : json(nullptr);
  out["until"] = sq.until ? json(*sq.until) : json(nullptr);
  json counts = {{"seen", 0}, {"suspect", 0}, {"unknown", 0}};
  if (sq.my_prefixes.empty()) {
    out["counts"] = counts;
    out["note"] = "no --my-prefix configured: nothing is known to be mine";
    return out;
  }
  auto add = [&](SpoofStatus st, std::int64_t n) {
    if (st == SpoofStatus::not_mine) st = SpoofStatus::unknown;  // stored before the prefix was mine
    const char* name = to_string(st);
    counts[name] = counts[name].get<std::int64_t>() + n;
  };
  // Every report from my prefixes in the range, through the index on (spoof, saddr_bin,
  // received_ns): `seen` verdicts are counted as stored; the others are judged again, since my
  // exports may have arrived after them (up to kMaxRejudged, newest first; the rest as stored).
  auto where = [&](std::string_view verdicts) {
    Where w;
    w.add("spoof IN (" + std::string(verdicts) + ")");
    w.prefixes("saddr_bin", sq.my_prefixes);
    if (sq.since) {
      w.add("received_ns >= ?");
      w.args.emplace_back(to_ns(*sq.since));
    }
    if (sq.until) {
      w.add("received_ns <= ?");
      w.args.emplace_back(to_ns(*sq.until));
    }
    return w;
  };
  const Where all = where("-1, 0, 1, 2");
  if (auto q = db.prepare("SELECT spoof, COUNT(*) FROM reports" + all.sql + " GROUP BY spoof")) {
    all.bind(*q);
    while (q->step() == kRow)
      if (q->i64(0) == static_cast<std::int8_t>(SpoofStatus::seen)) add(SpoofStatus::seen, q->i64(1));
  } else {
    return {{"error", q.error()}};
  }
  const Where open_verdicts = where("-1, 1, 2");
  auto q = db.prepare("SELECT " + report_columns() + " FROM reports" + open_verdicts.sql + " LIMIT ?");
  if (!q) return {{"error", q.error()}};
  open_verdicts.bind(*q);
  q->bind(static_cast<int>(open_verdicts.args.size()) + 1, kMaxRejudged);
  const ReportColumns columns(*q);
  std::vector<std::int64_t> suspects;
  std::int64_t judged = 0;
  std::map<std::int64_t, std::int64_t> judged_by_stored;  // stored verdict -> reports judged again
  while (q->step() == kRow) {
    ++judged;
    const ReportFields f = read_fields(*q, columns);
    const FlowTuple t{f.saddr, f.daddr, static_cast<std::uint16_t>(f.sport), static_cast<std::uint16_t>(f.dport),
                      static_cast<std::uint8_t>(f.protocol)};
    ++judged_by_stored[q->i64(columns.spoof)];
    auto stored = static_cast<SpoofStatus>(q->i64(columns.spoof));
    if (stored == SpoofStatus::not_mine) stored = SpoofStatus::unknown;
    const SpoofStatus now = recheck ? recheck(t, f.stime, f.etime, stored) : stored;
    add(now, 1);
    if (now == SpoofStatus::suspect) suspects.push_back(q->i64(columns.id));
  }
  q->reset();
  out["judged"] = judged;
  out["judged_all"] = judged < kMaxRejudged;
  if (judged >= kMaxRejudged) {
    // Those not judged again count by their stored verdicts.
    if (auto c = db.prepare("SELECT spoof, COUNT(*) FROM reports" + open_verdicts.sql + " GROUP BY spoof")) {
      open_verdicts.bind(*c);
      while (c->step() == kRow)
        add(static_cast<SpoofStatus>(c->i64(0)), c->i64(1) - judged_by_stored[c->i64(0)]);
    }
  }
  // The newest suspects, listed with the report they come from.
  std::sort(suspects.begin(), suspects.end(), std::greater<>());
  suspects.resize(std::min<std::size_t>(suspects.size(), static_cast<std::size_t>(clamp_limit(sq.limit))));
  if (auto row = db.prepare("SELECT " + report_columns() + " FROM reports WHERE id = ?1")) {
    const ReportColumns rc(*row);
    for (const std::int64_t id : suspects) {
      row->bind(1, id);
      if (row->step() == kRow) {
        json r = report_row(*row, rc, false);
        r["spoof"] = "suspect";
        out["suspects"].push_back(std::move(r));
      }
      row->reset();
    }
  }
  out["counts"] = counts;
  return out;
}

}  // namespace overflowd::store::queries_impl
