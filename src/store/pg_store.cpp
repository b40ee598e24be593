#include "store/pg_store.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/encoding.hpp"
#include "report/report_schema.hpp"
#include "receive/prefix.hpp"
#include "store/rollups.hpp"
#include "store/sql_dialect.hpp"
#include "store/statements.hpp"
#include "store/store.hpp"
#include "store/writer_impl.hpp"

namespace overflowd::store {

using namespace receive;

namespace {

// The steps of kMigrations that the translation cannot carry (SQLite's JSON functions), in
// PostgreSQL's text. Every step backfills from rows already stored; a PostgreSQL database starts
// empty at the newest version, so a backfill here may be left out.
struct PostgresStep {
  int version;
  std::string_view sql;
};
constexpr PostgresStep kPostgresSteps[] = {
    {8, R"sql(
ALTER TABLE reports ADD COLUMN class TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN reasons TEXT NOT NULL DEFAULT '';
CREATE INDEX reports_class ON reports(class, id);
)sql"},
    {12, R"sql(
CREATE TABLE report_reasons(report_id BIGINT NOT NULL, class TEXT NOT NULL, rule TEXT NOT NULL);
CREATE INDEX report_reasons_class ON report_reasons(class, report_id);
CREATE INDEX report_reasons_rule ON report_reasons(rule, report_id);
CREATE INDEX report_reasons_report ON report_reasons(report_id);
INSERT INTO report_reasons(report_id, class, rule)
  SELECT r.id, COALESCE(e.value->>'class', ''), COALESCE(e.value->>'rule', '')
  FROM reports r CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(r.message::jsonb #> '{metadata,reasons}') = 'array' THEN r.message::jsonb #> '{metadata,reasons}'
         ELSE '[]'::jsonb END) AS e(value)
  WHERE r.reasons <> '' AND jsonb_typeof(e.value) = 'object';
)sql"},
};

// Transaction advisory locks are keyed by 64-bit numbers: this one is the schema's, the retention's.
constexpr std::int64_t kSchemaLock = 0x6f766572666c6f01;  // "overflo" 01
constexpr std::int64_t kRetentionLock = 0x6f766572666c6f02;

// The roll-up's insert, with the conflict target PostgreSQL needs and the merge's own columns
// named by their table (PostgreSQL finds `reports` ambiguous beside excluded.reports).
std::string rollup_add_pg(const rollup::Table& t, std::string_view where) {
  std::string sql = rollup::add(t, where);
  std::string target = "res";
  for (const rollup::Column& c : t.keys) target += ", " + std::string(c.name);
  const std::string at = " ON CONFLICT DO UPDATE SET ";
  const auto pos = sql.find(at);
  if (pos == std::string::npos) return sql;
  std::string set;
  for (const rollup::Value& v : t.values) {
    std::string merge(v.merge);
    const std::string name(v.name), placeholder = "\x01";
    for (std::size_t p; (p = merge.find("excluded." + name)) != std::string::npos;)
      merge.replace(p, 9 + name.size(), placeholder);
    for (std::size_t p = 0; (p = merge.find(name, p)) != std::string::npos;) {
      merge.replace(p, name.size(), std::string(t.name) + "." + name);
      p += t.name.size() + 1 + name.size();
    }
    for (std::size_t p; (p = merge.find(placeholder)) != std::string::npos;) merge.replace(p, 1, "excluded." + name);
    set += std::string(set.empty() ? "" : ", ") + name + " = " + merge;
  }
  return sql.substr(0, pos) + " ON CONFLICT (" + target + ") DO UPDATE SET " + set;
}

bool retryable(const pg::Db& db) {
  const std::string& s = db.sqlstate();
  return s == "40001" || s == "40P01";  // serialization failure, deadlock
}

}  // namespace

bool is_postgres_url(std::string_view db) noexcept {
  return db.starts_with("postgresql://") || db.starts_with("postgres://");
}

std::string redact_url(std::string_view db) {
  std::string s(db);
  const auto scheme = s.find("://");
  if (scheme == std::string::npos) return s;
  const auto at = s.find('@', scheme + 3);
  if (at == std::string::npos) return s;
  const auto colon = s.find(':', scheme + 3);
  if (colon != std::string::npos && colon < at) s.replace(colon + 1, at - colon - 1, "***");
  return s;
}

std::expected<int, std::string> PgStore::schema_version(pg::Db& db) {
  if (auto r = db.exec_native("CREATE TABLE IF NOT EXISTS schema_version(version BIGINT NOT NULL);"
                              "INSERT INTO schema_version(version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)");
      !r)
    return std::unexpected("cannot read the schema version: " + r.error());
  const auto v = db.scalar("SELECT MAX(version) FROM schema_version");
  if (!v) return std::unexpected("cannot read the schema version: " + db.error());
  return static_cast<int>(*v);
}

template <class F>
auto PgStore::with_retry(F&& attempt) -> decltype(attempt()) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kRetryMs);
  std::chrono::milliseconds pause(50);
  for (int deadlocks = 0;;) {
    if (!db_.ok() || db_.connection_lost()) {
      if (!db_.reconnect()) {
        if (std::chrono::steady_clock::now() + pause >= deadline)
          return std::unexpected("PostgreSQL unreachable: " + db_.error());
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(1000));
        continue;
      }
      ++reconnects_;
      (void)db_.exec_native("CREATE TEMP TABLE IF NOT EXISTS gone(id BIGINT PRIMARY KEY)");
    }
    auto r = attempt();
    if (r) return r;
    if (retryable(db_) && ++deadlocks < 10) {
      ++retries_;
      continue;
    }
    if (!db_.connection_lost() || std::chrono::steady_clock::now() >= deadline) return r;
    ++retries_;  // the connection broke: made again at the top of the loop
  }
}

std::expected<void, std::string> PgStore::migrate(pg::Db& db, int target) {
  // One receiver at a time (a session lock), each step in its own transaction.
  if (auto r = db.exec_native("SELECT pg_advisory_lock(" + std::to_string(kSchemaLock) + ")"); !r)
    return std::unexpected(r.error());
  auto unlocked = [&](std::expected<void, std::string> r) {
    (void)db.exec_native("SELECT pg_advisory_unlock(" + std::to_string(kSchemaLock) + ")");
    return r;
  };
  auto have = schema_version(db);
  if (!have) return unlocked(std::unexpected(have.error()));
  if (*have > SqliteStore::kSchemaVersion)
    return unlocked(std::unexpected("the database has schema version " + std::to_string(*have) + ", newer than this overflowd (" +
                                    std::to_string(SqliteStore::kSchemaVersion) + "): refusing to touch it"));
  for (const Migration& m : migrations()) {
    if (m.version <= *have || m.version > target) continue;
    std::string sql = "BEGIN;\n";
    const auto own = std::find_if(std::begin(kPostgresSteps), std::end(kPostgresSteps),
                                  [&](const PostgresStep& s) { return s.version == m.version; });
    sql += own != std::end(kPostgresSteps) ? std::string(own->sql) : dialect::to_postgres(m.sql).sql;
    sql += "\nUPDATE schema_version SET version = " + std::to_string(m.version) + ";\nCOMMIT;";
    if (auto r = db.exec_native(sql); !r) {
      (void)db.exec_native("ROLLBACK");
      return unlocked(std::unexpected("schema migration to version " + std::to_string(m.version) + " (" + std::string(m.what) +
                                      ") failed on PostgreSQL: " + r.error()));
    }
  }
  return unlocked({});
}

std::expected<std::unique_ptr<PgStore>, std::string> PgStore::open(const StoreConfig& config) {
  // SQLite's bound counts a file's pages; a database that several receivers share is bounded by
  // count and age (and the server's own means): refused rather than silently ignored.
  if (config.max_db_mib > 0)
    return std::unexpected("--max-db-mib bounds a SQLite file and has no effect on PostgreSQL (--db " +
                           redact_url(config.path) + "): leave it at 0 and bound the store by --max-reports and --retention-days");
  auto db = pg::Db::open(config.path);
  if (!db) return std::unexpected(redact_url(config.path) + ": " + db.error());
  if (auto r = migrate(*db, SqliteStore::kSchemaVersion); !r) return std::unexpected(r.error());
  if (auto r = db->exec_native("CREATE TEMP TABLE IF NOT EXISTS gone(id BIGINT PRIMARY KEY)"); !r)
    return std::unexpected(r.error());
  auto store = std::unique_ptr<PgStore>(new PgStore(std::move(*db), config));
  if (auto r = store->rebuild_rollups(); !r) return std::unexpected("roll-ups: " + r.error());
  return store;
}

// As SqliteStore::rebuild_rollups (writer_impl.hpp), under the retention's lock (receivers
// sharing a database are meant to share --my-prefix).
std::expected<bool, std::string> PgStore::rebuild_rollups() {
  return writer_impl::rebuild_rollups(db_, config_, retention_begin(), false, rollup_add_pg);
}

PgStore::PgStore(pg::Db db, StoreConfig config) : db_(std::move(db)), config_(std::move(config)) {}
PgStore::~PgStore() = default;

std::string PgStore::retention_begin() { return "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kRetentionLock) + ")"; }

// Prepared on the writer's connection once per connection (again after a reconnection).
std::expected<void, std::string> PgStore::prepare_key_statements() {
  if (key_statements_ && key_statements_generation_ == db_.generation()) return {};
  auto k = std::make_unique<KeyStatements>();
  if (auto r = writer_impl::prepare(db_, *k); !r) return std::unexpected(r.error());
  key_statements_ = std::move(k);
  key_statements_generation_ = db_.generation();
  return {};
}


std::expected<BatchResult, std::string> PgStore::write(std::span<const Item> items,
                                                       const std::map<std::string, std::int64_t>& extra) {
  const InvalidRate rate = invalid_rate_;
  return with_retry([&]() {
    // A retried batch counts its refused inputs' rate from where it began.
    invalid_rate_ = rate;
    return write_once(items, extra);
  });
}

// A statement prepared once on the writer's connection (again after a reconnection, at its next
// run): PostgreSQL's text, or SQLite's translated (`translate`).
std::expected<pg::Stmt*, std::string> PgStore::cached(std::string_view sql, bool translate) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto st = translate ? db_.prepare(sql) : db_.prepare_native(sql);
    if (!st) return std::unexpected(st.error());
    it = cache_.emplace(std::string(sql), std::move(*st)).first;
  }
  return &it->second;
}

namespace {

// The batch's writes, each one statement over arrays (writer_impl::Deferred), in PostgreSQL's text.
constexpr std::string_view kInsertKeys =
    "INSERT INTO keys(key, first_seen_ns, last_seen_ns, reports, email, identity)"
    " SELECT k, f, f, 0, '', '' FROM unnest($1::text[], $2::bigint[]) AS u(k, f) ON CONFLICT (key) DO NOTHING";
constexpr std::string_view kInsertExporters =
    "INSERT INTO key_exporters(key, exporter, first_seen_ns)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING";
constexpr std::string_view kInsertPrefixes =
    "INSERT INTO key_prefixes(key, prefix, first_seen_ns)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING";
constexpr std::string_view kUpdateContacts =  // as stmt::update_contact
    "UPDATE key_contacts AS c SET last_seen_ns = GREATEST(c.last_seen_ns, u.l), reports = c.reports + u.n"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(k, e, i, l, n)"
    " WHERE c.key = u.k AND c.email = u.e AND c.identity = u.i";
constexpr std::string_view kUpdateKeys =  // as KeyStatements::update_key
    "UPDATE keys AS t SET last_seen_ns = GREATEST(t.last_seen_ns, u.l), reports = t.reports + u.n, exporters = u.x,"
    " prefixes = u.p, email = u.e, identity = u.i, alerts = t.alerts + u.a"
    " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bigint[])"
    " AS u(k, l, n, x, p, e, i, a) WHERE t.key = u.k";
constexpr std::string_view kAddCounters =  // as writer_impl::add_counter
    "INSERT INTO counters(name, value) SELECT * FROM unnest($1::text[], $2::bigint[])"
    " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value";
constexpr std::string_view kCountDuplicates =  // a digest twice in the batch counts twice
    "UPDATE reports AS r SET duplicates = r.duplicates + d.n"
    " FROM (SELECT digest, COUNT(*) AS n FROM unnest($1::bytea[]) AS digest GROUP BY digest) AS d WHERE r.digest = d.digest";
// The batch's known rows (writer_impl::Known): its keys, then its (key, contact / exporter / prefix) rows.
constexpr std::string_view kKnownKeys =
    "SELECT key, email, identity, exporters, prefixes, reports, predecessor FROM keys WHERE key = ANY($1::text[])";
constexpr std::string_view kKnownRows =
    "SELECT 0, c.key, c.email, c.identity FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, e, i)"
    " JOIN key_contacts AS c ON c.key = u.k AND c.email = u.e AND c.identity = u.i"
    " UNION ALL SELECT 1, x.key, x.exporter, '' FROM unnest($4::text[], $5::text[]) AS u(k, v)"
    " JOIN key_exporters AS x ON x.key = u.k AND x.exporter = u.v"
    " UNION ALL SELECT 2, p.key, p.prefix, '' FROM unnest($6::text[], $7::text[]) AS u(k, v)"
    " JOIN key_prefixes AS p ON p.key = u.k AND p.prefix = u.v";
constexpr std::string_view kLockNames =
    "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(n, 0) AS h FROM unnest($1::text[]) n) x ORDER BY h";

}  // namespace

// The reports' insert: every accepted report of a batch in one statement (one array per column,
// unnest()), prepared once; RETURNING id, digest tells stored from duplicate. The arrays' types
// are the columns' own, read from the catalog.
std::expected<void, std::string> PgStore::prepare_report_insert() {
  if (!report_types_.empty()) return {};
  auto q = db_.prepare_native(
      "SELECT attname, format_type(atttypid, atttypmod), atttypid FROM pg_attribute"
      " WHERE attrelid = 'reports'::regclass AND attnum > 0 AND NOT attisdropped");
  if (!q) return std::unexpected(q.error());
  std::map<std::string, std::pair<std::string, unsigned>> types;
  int rc;
  while ((rc = q->step()) == pg::kRow) types[q->text(0)] = {q->text(1), static_cast<unsigned>(q->i64(2))};
  if (rc == pg::kError) return std::unexpected(db_.error());
  std::string columns, arrays;
  std::vector<unsigned> oids;
  int n = 0;
  for (const std::string& column : writer_impl::report_columns()) {
    const auto t = types.find(column);
    if (t == types.end()) return std::unexpected("the reports table has no column " + column);
    columns += (columns.empty() ? "" : ", ") + column;
    arrays += (arrays.empty() ? "unnest($" : ", unnest($") + std::to_string(++n) + "::" + t->second.first + "[])";
    oids.push_back(t->second.second);
  }
  // The unnest()s in the select list run in step, row by row (a ProjectSet); in FROM, unnest(a, b, ...)
  // would first copy every row into a tuplestore (measured: a tenth of the insert's time).
  report_insert_ = "INSERT INTO reports(" + columns + ") SELECT " + arrays + " ON CONFLICT (digest) DO NOTHING RETURNING id, digest";
  report_types_ = std::move(oids);
  return {};
}

// The deferred writes as statements bound to their arrays, appended to `out` (sent by pipeline()).
std::expected<void, std::string> PgStore::deferred_statements(const writer_impl::Deferred& d, std::vector<pg::Stmt*>& out) {
  auto add = [&](std::string_view sql, const pg::ArrayRows& rows) -> std::expected<void, std::string> {
    if (rows.rows() == 0) return {};
    auto st = cached(sql);
    if (!st) return std::unexpected(st.error());
    rows.bind_to(**st);
    out.push_back(*st);
    return {};
  };
  using pg::kInt8Oid, pg::kTextOid;
  pg::ArrayRows keys({kTextOid, kInt8Oid}), exporters({kTextOid, kTextOid, kInt8Oid}), prefixes({kTextOid, kTextOid, kInt8Oid}),
      contacts({kTextOid, kTextOid, kTextOid, kInt8Oid, kInt8Oid}),
      updates({kTextOid, kInt8Oid, kInt8Oid, kInt8Oid, kInt8Oid, kTextOid, kTextOid, kInt8Oid}), counters({kTextOid, kInt8Oid});
  for (const auto& k : d.new_keys) {
    keys.bind(1, k.key).bind(2, k.first_ns);
    keys.next_row();
  }
  for (auto [rows, from] : {std::pair{&exporters, &d.exporters}, std::pair{&prefixes, &d.prefixes}})
    for (const auto& r : *from) {
      rows->bind(1, r.key).bind(2, r.value).bind(3, r.first_ns);
      rows->next_row();
    }
  for (const auto& c : d.contacts) {
    contacts.bind(1, c.key).bind(2, c.email).bind(3, c.identity).bind(4, c.last_ns).bind(5, c.reports);
    contacts.next_row();
  }
  for (const auto& k : d.keys) {
    updates.bind(1, k.key).bind(2, k.last_ns).bind(3, k.reports).bind(4, k.exporters).bind(5, k.prefixes)
        .bind(6, k.email).bind(7, k.identity).bind(8, k.alerts);
    updates.next_row();
  }
  for (const auto& [name, value] : d.counters) {
    counters.bind(1, name).bind(2, value);
    counters.next_row();
  }
  // Keys first (the updates find their rows), the counters last.
  for (auto [sql, rows] : {std::pair{kInsertKeys, &keys}, std::pair{kInsertExporters, &exporters},
                           std::pair{kInsertPrefixes, &prefixes}, std::pair{kUpdateContacts, &contacts},
                           std::pair{kUpdateKeys, &updates}, std::pair{kAddCounters, &counters}})
    if (auto r = add(sql, *rows); !r) return r;
  return {};
}

// A batch in two round trips when its keys are known: (1) BEGIN, the locks, the reports' insert
// and the read of the batch's known key rows, in one pipeline; (2) the duplicates' counts, the
// roll-ups, every key's rows (writer_impl::Deferred) and COMMIT, in another. Between them only
// what needs an answer runs statement by statement: a contact new to its key (alerts), a linked
// rotation, a refused input.
std::expected<BatchResult, std::string> PgStore::write_once(std::span<const Item> items,
                                                            const std::map<std::string, std::int64_t>& extra) {
  auto fail = [&](std::string why) -> std::expected<BatchResult, std::string> {
    if (db_.ok()) (void)db_.exec_native("ROLLBACK");
    new_alerts_.clear();
    return std::unexpected(std::move(why));
  };
  if (auto r = prepare_key_statements(); !r) return fail(r.error());
  if (auto r = prepare_report_insert(); !r) return fail(r.error());
  std::vector<std::size_t> accepted;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (std::holds_alternative<Accepted>(items[i].verdict)) accepted.push_back(i);

  // (1) Every key, email and identity of the batch, locked for the transaction in one order (so
  // two receivers never wait on each other in a cycle): the continuity check of a key sees every
  // batch about it that committed before, as with SQLite's one writer. Then the rows of every
  // accepted report's key (those that turn out duplicates too: a superset does no harm).
  std::vector<pg::Stmt*> first;
  auto begin = cached("BEGIN");
  if (!begin) return fail(begin.error());
  first.push_back(*begin);
  std::map<report::PublicKey, writer_impl::KeyBatch> seen;
  for (const std::size_t i : accepted) {
    const auto& acc = std::get<Accepted>(items[i].verdict);
    seen[acc.key].add(acc, items[i].arrival, 0);
  }
  using pg::kTextOid;
  pg::ArrayRows names({kTextOid}), key_names({kTextOid}), contacts({kTextOid, kTextOid, kTextOid}), exporters({kTextOid, kTextOid}),
      prefixes({kTextOid, kTextOid});
  {
    std::set<std::string> locks;
    for (const auto& [raw, kb] : seen) {
      const std::string key = writer_impl::key_hex(raw);
      locks.insert("k:" + key);
      key_names.bind(1, key);
      key_names.next_row();
      for (const auto& c : kb.contacts) {
        if (!c.email.empty()) locks.insert("e:" + c.email);
        if (!c.identity.empty()) locks.insert("i:" + c.identity);
        contacts.bind(1, key).bind(2, c.email).bind(3, c.identity);
        contacts.next_row();
      }
      for (const auto& e : kb.exporters) {
        exporters.bind(1, key).bind(2, e);
        exporters.next_row();
      }
      for (const auto& p : kb.prefixes) {
        prefixes.bind(1, key).bind(2, p);
        prefixes.next_row();
      }
    }
    for (const std::string& n : locks) {
      names.bind(1, n);
      names.next_row();
    }
  }
  pg::Stmt *insert = nullptr, *known_keys = nullptr, *known_rows = nullptr;
  if (!accepted.empty()) {
    auto lock = cached(kLockNames);
    auto ins = cached(report_insert_);
    auto kk = cached(kKnownKeys);
    auto kr = cached(kKnownRows);
    for (auto* st : {&lock, &ins, &kk, &kr})
      if (!*st) return fail(st->error());
    insert = *ins;
    known_keys = *kk;
    known_rows = *kr;
    names.bind_to(**lock);
    pg::ArrayRows rows(report_types_);
    writer_impl::ReportRow row;
    for (const std::size_t i : accepted) {
      const auto& acc = std::get<Accepted>(items[i].verdict);
      row.bind(rows, 0, items[i], acc, writer_impl::chart_of(config_, acc, items[i].arrival.received_ns));
      rows.next_row();
    }
    rows.bind_to(*insert);
    key_names.bind_to(*known_keys);
    contacts.bind_to(*known_rows, 1);
    exporters.bind_to(*known_rows, 4);
    prefixes.bind_to(*known_rows, 6);
    for (pg::Stmt* st : {*lock, insert, known_keys, known_rows}) first.push_back(st);
  }
  const bool began = db_.pipeline(first);
  for (pg::Stmt* st : first)
    if (st != insert && st != known_keys && st != known_rows) st->reset();
  if (!began) return fail(db_.error());

  // RETURNING names the rows stored, by digest: the others (and a report's second copy within
  // the batch) are duplicates.
  std::vector<std::int64_t> inserted(items.size(), 0);
  writer_impl::Known known;
  known.read = true;
  if (insert) {
    std::map<std::string, std::vector<std::int64_t>> stored_ids;  // digest -> ids, in insert order
    while (insert->step() == pg::kRow) stored_ids[insert->blob(1)].push_back(insert->i64(0));
    insert->reset();
    for (const std::size_t i : accepted) {
      const auto& acc = std::get<Accepted>(items[i].verdict);
      auto it = stored_ids.find(std::string(reinterpret_cast<const char*>(acc.digest.data()), acc.digest.size()));
      if (it == stored_ids.end() || it->second.empty()) continue;
      inserted[i] = it->second.front();
      it->second.erase(it->second.begin());
    }
    while (known_keys->step() == pg::kRow)
      known.keys[known_keys->text(0)] = writer_impl::Known::Key{known_keys->text(1), known_keys->text(2), known_keys->text(6),
                                                                known_keys->i64(3), known_keys->i64(4), known_keys->i64(5) > 0};
    known_keys->reset();
    while (known_rows->step() == pg::kRow) {
      const std::int64_t table = known_rows->i64(0);
      if (table == 0) known.contacts.insert({known_rows->text(1), known_rows->text(2), known_rows->text(3)});
      else (table == 1 ? known.exporters : known.prefixes).insert({known_rows->text(1), known_rows->text(2)});
    }
    known_rows->reset();
  }

  writer_impl::Batch batch(items.size(), extra);
  std::vector<std::int64_t> charted;  // the batch's rolled-up reports
  pg::ArrayRows duplicates({pg::kByteaOid});
  std::int64_t last_invalid_id = 0, trimmed_invalid = 0;
  for (const Item& item : items) {
    const Arrival& a = item.arrival;
    batch.arrived(a);
    if (const auto* rej = std::get_if<Rejected>(&item.verdict)) {
      const auto raw = batch.rejected(*rej, config_, invalid_rate_);
      if (!raw) continue;
      auto insert_invalid = cached("INSERT INTO invalid(received_ns, input, peer, reason, raw) VALUES(?1,?2,?3,?4,?5) RETURNING id", true);
      if (!insert_invalid) return fail(insert_invalid.error());
      pg::Stmt& st = **insert_invalid;
      st.bind(1, a.received_ns).bind(2, std::string_view(to_string(a.input))).bind(3, a.peer).bind(4, rej->reason).bind_blob(5, *raw);
      if (st.step() != pg::kRow) return fail(db_.error());
      last_invalid_id = st.i64(0);
      st.reset();
      continue;
    }
    const auto& acc = std::get<Accepted>(item.verdict);
    const std::int64_t id = inserted[static_cast<std::size_t>(&item - items.data())];
    if (id == 0) {
      batch.duplicate();
      duplicates.bind_blob(1, acc.digest);
      duplicates.next_row();
      continue;
    }
    if (writer_impl::chart_of(config_, acc, a.received_ns) == 1) charted.push_back(id);
    batch.stored(item, acc, id);
  }
  if (last_invalid_id > 0 && config_.max_invalid > 0) {
    auto trim = cached(stmt::trim_invalid, true);
    if (!trim) return fail(trim.error());
    if ((*trim)->bind(1, last_invalid_id - config_.max_invalid).step() == pg::kError) return fail(db_.error());
    batch.counters["retention.invalid"] += (*trim)->changes();
    trimmed_invalid = (*trim)->changes();
    (*trim)->reset();
  }
  // (2) What needs no answer, in one pipeline with the COMMIT.
  std::vector<pg::Stmt*> last;
  if (duplicates.rows() > 0) {
    auto st = cached(kCountDuplicates);
    if (!st) return fail(st.error());
    duplicates.bind_to(**st);
    last.push_back(*st);
  }
  if (!charted.empty()) {
    // Exactly this transaction's rows (another receiver's ids may lie between them).
    std::string ids = "{";
    for (const std::int64_t id : charted) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
    ids += "}";
    for (const rollup::Table& t : rollup::tables()) {
      auto add = cached(rollup_add_pg(t, "r.id = ANY(?1::bigint[])"), true);
      if (!add) return fail(add.error());
      (*add)->bind(1, ids);
      last.push_back(*add);
    }
  }
  // The connection's troubles since the last batch that committed.
  const std::uint64_t rc = reconnects_.load(), rt = retries_.load();
  if (rc > reconnects_counted_) batch.counters["postgres.reconnects"] += static_cast<std::int64_t>(rc - reconnects_counted_);
  if (rt > retries_counted_) batch.counters["postgres.retries"] += static_cast<std::int64_t>(rt - retries_counted_);
  writer_impl::Deferred deferred;
  // Before the keys that claim a predecessor: what was deferred so far (and the duplicates, roll-ups).
  auto flush = [&]() -> std::expected<void, std::string> {
    if (auto r = deferred_statements(deferred, last); !r) return r;
    if (!last.empty() && !db_.pipeline(last)) return std::unexpected(db_.error());
    for (pg::Stmt* st : last) st->reset();
    last.clear();
    deferred.clear();
    return {};
  };
  if (auto r = writer_impl::finish(db_, *key_statements_, config_, batch, new_alerts_, std::move(known), &deferred, flush); !r)
    return fail(r.error());
  if (auto r = deferred_statements(deferred, last); !r) return fail(r.error());
  auto commit = cached("COMMIT");
  if (!commit) return fail(commit.error());
  last.push_back(*commit);
  const bool committed = db_.pipeline(last);
  for (pg::Stmt* st : last) st->reset();
  if (!committed) return fail(db_.error());
  reconnects_counted_ = rc;
  retries_counted_ = rt;
  batch.result.new_alerts = std::move(new_alerts_);
  new_alerts_.clear();
  invalid_trimmed_ += trimmed_invalid;
  return std::move(batch.result);
}

std::expected<RetentionResult, std::string> PgStore::enforce_retention(std::int64_t now_ns) {
  return with_retry([&]() { return writer_impl::enforce_retention(db_, config_, retention_begin(), now_ns, invalid_trimmed_); });
}

std::expected<std::int64_t, std::string> PgStore::save_own_flows(std::span<const OwnFlow> flows, std::int64_t window_ms,
                                                                 std::int64_t max_flows) {
  return with_retry([&]() { return writer_impl::save_own_flows(db_, "BEGIN", flows, window_ms, max_flows); });
}

std::expected<std::int64_t, std::string> PgStore::load_own_flows(const std::function<void(const OwnFlow&)>& take) {
  return writer_impl::load_own_flows(db_, take);
}

std::expected<std::int64_t, std::string> PgStore::rejudge_suspects(const std::function<SpoofStatus(const ReportFields&)>& judge,
                                                                   std::int64_t since_ns, std::int64_t limit) {
  return with_retry([&]() { return writer_impl::rejudge_suspects(db_, "BEGIN", judge, since_ns, limit); });
}

}  // namespace overflowd::store
