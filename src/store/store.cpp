#include "store/store.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <utility>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/encoding.hpp"
#include "report/report_schema.hpp"
#include "receive/prefix.hpp"
#include "core/clock.hpp"
#include "core/sodium.hpp"
#include "store/rollups.hpp"
#include "store/statements.hpp"
#include "store/writer_impl.hpp"

namespace overflowd::store {

using namespace receive;

namespace {

// The schema's history as data: each step brings a database from user_version `version - 1` to
// `version`, in one transaction; migrate() walks the table. Never edit a released step: add the next.
constexpr Migration kMigrations[] = {
    {1, "reports, refused inputs, counters", R"sql(
CREATE TABLE reports(
  id INTEGER PRIMARY KEY,
  digest BLOB NOT NULL UNIQUE,
  received_ns INTEGER NOT NULL,
  input TEXT NOT NULL,
  peer TEXT NOT NULL,
  form TEXT NOT NULL,
  key TEXT NOT NULL,
  signature BLOB NOT NULL,
  message TEXT NOT NULL,
  time REAL,
  time_flag INTEGER NOT NULL DEFAULT 0,
  email TEXT NOT NULL DEFAULT '',
  identity TEXT NOT NULL DEFAULT '',
  source_type TEXT NOT NULL DEFAULT '',
  source_version INTEGER NOT NULL DEFAULT 0,
  saddr TEXT NOT NULL DEFAULT '',
  daddr TEXT NOT NULL DEFAULT '',
  saddr_bin BLOB,
  daddr_bin BLOB,
  sport INTEGER, dport INTEGER, protocol INTEGER,
  pcount INTEGER, bcount INTEGER, stime INTEGER, etime INTEGER,
  exporter TEXT NOT NULL DEFAULT '',
  input_if INTEGER, output_if INTEGER, src_as INTEGER, dst_as INTEGER,
  sampling_interval INTEGER,
  duplicates INTEGER NOT NULL DEFAULT 0);
CREATE INDEX reports_key ON reports(key, id);
CREATE INDEX reports_saddr ON reports(saddr_bin);
CREATE INDEX reports_daddr ON reports(daddr_bin);
CREATE INDEX reports_received ON reports(received_ns);
CREATE TABLE invalid(
  id INTEGER PRIMARY KEY,
  received_ns INTEGER NOT NULL,
  input TEXT NOT NULL,
  peer TEXT NOT NULL,
  reason TEXT NOT NULL,
  raw BLOB NOT NULL);
CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
)sql"},
    {2, "key continuity and alerts (filled from the reports already stored), spoofing verdicts", R"sql(
CREATE TABLE keys(
  key TEXT PRIMARY KEY,
  first_seen_ns INTEGER NOT NULL,
  last_seen_ns INTEGER NOT NULL,
  reports INTEGER NOT NULL DEFAULT 0,
  exporters INTEGER NOT NULL DEFAULT 0,
  prefixes INTEGER NOT NULL DEFAULT 0,
  email TEXT NOT NULL DEFAULT '',
  identity TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
CREATE INDEX keys_last_seen ON keys(last_seen_ns);
CREATE TABLE key_contacts(
  key TEXT NOT NULL,
  email TEXT NOT NULL,
  identity TEXT NOT NULL,
  first_seen_ns INTEGER NOT NULL,
  last_seen_ns INTEGER NOT NULL,
  reports INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(key, email, identity)) WITHOUT ROWID;
CREATE INDEX key_contacts_identity ON key_contacts(identity);
CREATE INDEX key_contacts_email ON key_contacts(email);
CREATE TABLE key_exporters(
  key TEXT NOT NULL, exporter TEXT NOT NULL, first_seen_ns INTEGER NOT NULL,
  PRIMARY KEY(key, exporter)) WITHOUT ROWID;
CREATE TABLE key_prefixes(
  key TEXT NOT NULL, prefix TEXT NOT NULL, first_seen_ns INTEGER NOT NULL,
  PRIMARY KEY(key, prefix)) WITHOUT ROWID;
CREATE TABLE alerts(
  id INTEGER PRIMARY KEY,
  created_ns INTEGER NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  report_id INTEGER,
  detail TEXT NOT NULL);
ALTER TABLE reports ADD COLUMN spoof INTEGER NOT NULL DEFAULT -1;
INSERT INTO keys(key, first_seen_ns, last_seen_ns, reports)
  SELECT key, MIN(received_ns), MAX(received_ns), COUNT(*) FROM reports GROUP BY key;
INSERT INTO key_contacts(key, email, identity, first_seen_ns, last_seen_ns, reports)
  SELECT key, email, identity, MIN(received_ns), MAX(received_ns), COUNT(*) FROM reports GROUP BY key, email, identity;
INSERT INTO key_exporters(key, exporter, first_seen_ns)
  SELECT key, exporter, MIN(received_ns) FROM reports WHERE exporter <> '' GROUP BY key, exporter;
UPDATE keys SET
  exporters = (SELECT COUNT(*) FROM key_exporters e WHERE e.key = keys.key),
  email = COALESCE((SELECT email FROM reports r WHERE r.key = keys.key ORDER BY id DESC LIMIT 1), ''),
  identity = COALESCE((SELECT identity FROM reports r WHERE r.key = keys.key ORDER BY id DESC LIMIT 1), '');
)sql"},
    // The continuity check walks an email's or identity's keys in first-seen order instead of sorting them.
    {3, "indexes for every per-report, per-key and API query (statements.hpp)", R"sql(
DROP INDEX key_contacts_identity;
DROP INDEX key_contacts_email;
CREATE INDEX key_contacts_identity ON key_contacts(identity, first_seen_ns, key, email);
CREATE INDEX key_contacts_email ON key_contacts(email, first_seen_ns, key, identity);
CREATE INDEX key_contacts_key_seen ON key_contacts(key, first_seen_ns);
CREATE INDEX alerts_key ON alerts(key, id);
CREATE INDEX alerts_key_created ON alerts(key, created_ns);
CREATE INDEX alerts_created ON alerts(created_ns);
CREATE INDEX invalid_received ON invalid(received_ns);
)sql"},
    // The spoofing view counts and re-judges the reports from my prefixes by verdict in a time
    // range (not the newest N); the writer re-judges stored suspects when my exports catch up.
    {4, "my own exports' flows persisted (the spoof window survives a restart); reports indexed by verdict", R"sql(
CREATE TABLE own_flows(
  hash INTEGER NOT NULL,
  etime_ms INTEGER NOT NULL,
  PRIMARY KEY(hash, etime_ms)) WITHOUT ROWID;
CREATE INDEX own_flows_etime ON own_flows(etime_ms);
CREATE INDEX reports_spoof ON reports(spoof, saddr_bin, received_ns);
CREATE INDEX reports_spoof_received ON reports(spoof, received_ns);
)sql"},
    {5, "the flow's TCP flags, ToS and next hop kept (report schema rows)", R"sql(
ALTER TABLE reports ADD COLUMN tcp_flags INTEGER;
ALTER TABLE reports ADD COLUMN tos INTEGER;
ALTER TABLE reports ADD COLUMN nexthop TEXT NOT NULL DEFAULT '';
)sql"},
    // rollups.hpp. chart: 0 not toward my prefixes, 1 rolled up, 2 toward my prefixes with an
    // implausible time (listed apart). The roll-ups are filled at open() (rebuild_rollups).
    {6, "summaries from roll-ups the writer keeps; reports toward my prefixes charted or flagged", R"sql(
ALTER TABLE reports ADD COLUMN chart INTEGER NOT NULL DEFAULT 0;
CREATE INDEX reports_chart ON reports(chart, id);
CREATE TABLE rollup_state(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sum_time(res INTEGER NOT NULL, t INTEGER NOT NULL, reports INTEGER NOT NULL, packets INTEGER NOT NULL,
  bytes INTEGER NOT NULL, PRIMARY KEY(res, t)) WITHOUT ROWID;
CREATE TABLE sum_key(res INTEGER NOT NULL, t INTEGER NOT NULL, key TEXT NOT NULL, email TEXT NOT NULL,
  identity TEXT NOT NULL, reports INTEGER NOT NULL, packets INTEGER NOT NULL, bytes INTEGER NOT NULL,
  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL, PRIMARY KEY(res, t, key, email, identity)) WITHOUT ROWID;
CREATE TABLE sum_source(res INTEGER NOT NULL, t INTEGER NOT NULL, saddr TEXT NOT NULL, reports INTEGER NOT NULL,
  packets INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY(res, t, saddr)) WITHOUT ROWID;
CREATE TABLE sum_path(res INTEGER NOT NULL, saddr TEXT NOT NULL, t INTEGER NOT NULL, key TEXT NOT NULL,
  email TEXT NOT NULL, identity TEXT NOT NULL, exporter TEXT NOT NULL, input_if INTEGER NOT NULL,
  src_as INTEGER NOT NULL, reports INTEGER NOT NULL,
  PRIMARY KEY(res, saddr, t, key, email, identity, exporter, input_if, src_as)) WITHOUT ROWID;
)sql"},
    {7, "a key's alert count on its row (/api/keys counted every alert of every key listed)", R"sql(
ALTER TABLE keys ADD COLUMN alerts INTEGER NOT NULL DEFAULT 0;
UPDATE keys SET alerts = (SELECT COUNT(*) FROM alerts a WHERE a.key = keys.key);
)sql"},
    {8, "the report's class and its reasons' classes (the sender's suspicion policy)", R"sql(
ALTER TABLE reports ADD COLUMN class TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN reasons TEXT NOT NULL DEFAULT '';
UPDATE reports SET class = json_extract(message, '$.metadata.class')
  WHERE json_valid(message) AND json_type(message, '$.metadata.class') = 'text';
CREATE INDEX reports_class ON reports(class, id);
)sql"},
    {9, "the encryption mode: the kid of the key a sealed report was opened with ('' for a plain one)", R"sql(
ALTER TABLE reports ADD COLUMN kid TEXT NOT NULL DEFAULT '';
)sql"},
    // Standard SQL (SQLite and PostgreSQL): the flag from the canonical signed message, where
    // "coherent":true can only be metadata's member (inside a string its quotes are escaped).
    {10, "metadata.coherent kept (0 or 1) and indexed for /api/paths (path-coherent sampling)", R"sql(
ALTER TABLE reports ADD COLUMN coherent INTEGER NOT NULL DEFAULT 0;
UPDATE reports SET coherent = 1 WHERE message LIKE '%"coherent":true%';
CREATE INDEX reports_coherent ON reports(coherent, received_ns);
)sql"},
    // Standard SQL (SQLite and PostgreSQL 15): two columns with constant defaults.
    {11, "key continuity through rotation statements: a key's predecessor and when it was linked", R"sql(
ALTER TABLE keys ADD COLUMN predecessor TEXT NOT NULL DEFAULT '';
ALTER TABLE keys ADD COLUMN rotated_ns INTEGER NOT NULL DEFAULT 0;
)sql"},
    // The reason filter (/api/summary, /api/reports ?reason=) reads this index instead of a LIKE
    // over every report's reasons and signed message: one row per element of metadata.reasons,
    // written by the writer with the report (writer_impl.hpp, Batch::stored), deleted with it.
    // The backfill reads the stored messages (SQLite's JSON functions; PostgreSQL's own text in
    // pg_store.cpp).
    {12, "the reasons' classes and rules indexed (report_reasons), for the reason filter", R"sql(
CREATE TABLE report_reasons(report_id INTEGER NOT NULL, class TEXT NOT NULL, rule TEXT NOT NULL);
CREATE INDEX report_reasons_class ON report_reasons(class, report_id);
CREATE INDEX report_reasons_rule ON report_reasons(rule, report_id);
CREATE INDEX report_reasons_report ON report_reasons(report_id);
INSERT INTO report_reasons(report_id, class, rule)
  SELECT r.id, CAST(COALESCE(json_extract(e.value, '$.class'), '') AS TEXT), CAST(COALESCE(json_extract(e.value, '$.rule'), '') AS TEXT)
  FROM reports r, json_each(CASE WHEN json_valid(r.message) THEN r.message ELSE '{}' END, '$.metadata.reasons') e
  WHERE r.reasons <> '' AND e.type = 'object';
)sql"},
    // Every insert maintains every index of reports (on PostgreSQL about half a row's insert): an
    // index whose queries all name one rare value holds only the rows with it (its columns as
    // before, so that a planner without statistics still prefers it to the one on received_ns),
    // and the spoofing view's index is the source address's (its queries on spoof always narrow
    // the source). What each query reads: statements.hpp; the plans are checked on both stores
    // (store_bounds_test, summary_filter_test, pg_plan_test). Standard SQL: translated for PostgreSQL.
    {13, "fewer index updates per report: partial indexes for rare values, the spoofing index merged", R"sql(
DROP INDEX reports_chart;
DROP INDEX reports_coherent;
DROP INDEX reports_spoof_received;
DROP INDEX reports_spoof;
DROP INDEX reports_saddr;
DROP INDEX reports_class;
CREATE INDEX reports_flagged ON reports(chart, id) WHERE chart = 2;
CREATE INDEX reports_coherent ON reports(coherent, received_ns) WHERE coherent = 1;
CREATE INDEX reports_suspects ON reports(spoof, received_ns) WHERE spoof = 1;
CREATE INDEX reports_class ON reports(class, id) WHERE class <> 'INFORMATIONAL';
CREATE INDEX reports_saddr ON reports(saddr_bin, spoof, received_ns);
)sql"},
};
constexpr bool steps_in_order() {
  int v = 0;
  for (const Migration& m : kMigrations)
    if (m.version != ++v) return false;
  return v == SqliteStore::kSchemaVersion;
}
static_assert(steps_in_order(), "kMigrations: versions 1..kSchemaVersion, in order, none missing");

}  // namespace

std::span<const Migration> migrations() noexcept { return kMigrations; }


bool reverify(const std::string& key_hex_text, std::string_view signature, std::string_view message) {
  report::PublicKey key{};
  if (!core::from_hex(key_hex_text, key) || signature.size() != crypto_sign_BYTES) return false;
  core::init_sodium();
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                     key.data()) == 0;
}

std::expected<int, std::string> SqliteStore::schema_version(sql::Db& db) {
  const auto v = db.scalar("PRAGMA user_version");
  if (!v) return std::unexpected("cannot read the schema version: " + db.error());
  return static_cast<int>(*v);
}

std::expected<void, std::string> SqliteStore::migrate(sql::Db& db, int target) {
  auto have = schema_version(db);
  if (!have) return std::unexpected(have.error());
  if (*have > kSchemaVersion)
    return std::unexpected("the database has schema version " + std::to_string(*have) + ", newer than this overflowd (" +
                           std::to_string(kSchemaVersion) + "): refusing to touch it");
  for (const Migration& m : kMigrations) {
    if (m.version <= *have || m.version > target) continue;
    std::string sql = "BEGIN IMMEDIATE;\n";
    sql += m.sql;
    sql += "PRAGMA user_version = " + std::to_string(m.version) + ";\nCOMMIT;";
    if (auto r = db.exec(sql); !r) {
      (void)db.exec("ROLLBACK");
      return std::unexpected("schema migration to version " + std::to_string(m.version) + " (" + std::string(m.what) +
                             ") failed: " + r.error());
    }
  }
  return {};
}

namespace {
constexpr std::string_view kBegin = "BEGIN IMMEDIATE";
}  // namespace

struct SqliteStore::Statements {
  // The insert of a report (one row: ?1.. in writer_impl::report_columns()' order) and its buffers.
  writer_impl::ReportRow report;
  sql::Stmt insert_report, count_duplicate, insert_invalid;
  writer_impl::KeyStatements<sql::Stmt> keys;  // continuity, alerts, counters (writer_impl.hpp)
  std::vector<sql::Stmt> rollup_add;  // per roll-up table: adds the reports with ids in [?1, ?2]
  sql::Stmt trim_invalid;
};

std::expected<void, std::string> SqliteStore::prepare_statements() {
  auto st = std::make_shared<Statements>();
  std::string columns, values;
  for (const std::string& column : writer_impl::report_columns()) {
    columns += (columns.empty() ? "" : ", ") + column;
    values += (values.empty() ? "?" : ", ?") + std::to_string(&column - writer_impl::report_columns().data() + 1);
  }
  const std::string report_insert = "INSERT OR IGNORE INTO reports(" + columns + ") VALUES(" + values + ")";
  struct Def {
    sql::Stmt* into;
    std::string_view sql;
  };
  const Def defs[] = {
      {&st->insert_report, report_insert},
      {&st->count_duplicate, "UPDATE reports SET duplicates = duplicates + 1 WHERE digest = ?1"},
      {&st->trim_invalid, stmt::trim_invalid},
      {&st->insert_invalid, "INSERT INTO invalid(received_ns, input, peer, reason, raw) VALUES(?1,?2,?3,?4,?5)"},
  };
  for (const auto& d : defs) {
    auto s = db_.prepare(d.sql);
    if (!s) return std::unexpected(s.error());
    *d.into = std::move(*s);
  }
  if (auto r = writer_impl::prepare(db_, st->keys); !r) return std::unexpected(r.error());
  for (const rollup::Table& t : rollup::tables()) {
    auto add = db_.prepare(rollup::add(t, "r.id BETWEEN ?1 AND ?2"));
    if (!add) return std::unexpected(add.error());
    st->rollup_add.push_back(std::move(*add));
  }
  if (auto made = db_.exec("CREATE TEMP TABLE IF NOT EXISTS gone(id INTEGER PRIMARY KEY)"); !made) return std::unexpected(made.error());
  st_ = std::move(st);
  return {};
}

std::expected<bool, std::string> SqliteStore::rebuild_rollups(bool always) {
  return writer_impl::rebuild_rollups(db_, config_, kBegin, always,
                                      [](const rollup::Table& t, std::string_view where) { return rollup::add(t, where); });
}


std::expected<std::unique_ptr<SqliteStore>, std::string> SqliteStore::open(const StoreConfig& config) {
  auto db = sql::Db::open(config.path, false);
  if (!db) return std::unexpected(db.error());
  sqlite3_busy_timeout(db->handle(), 5000);
  // A new database gets pages of kPageSize bytes (an existing one keeps its own: the pragma is
  // ignored once the file has content, and it must come before WAL mode is set).
  if (auto r = db->exec("PRAGMA page_size=" + std::to_string(kPageSize)); !r)
    return std::unexpected(config.path + ": " + r.error());
  // Freed pages go back to the file system (enforce_size): a new database is made so; an older
  // one is rebuilt once by VACUUM to take the mode.
  if (auto r = db->exec("PRAGMA auto_vacuum=INCREMENTAL"); !r) return std::unexpected(config.path + ": " + r.error());
  if (db->scalar("PRAGMA auto_vacuum").value_or(2) != 2 &&
      !db->exec("PRAGMA page_size=" + std::to_string(db->scalar("PRAGMA page_size").value_or(4096)) + "; VACUUM"))
    return std::unexpected(config.path + ": cannot switch to incremental vacuum: " + db->error());
  auto mode = db->prepare("PRAGMA journal_mode=WAL");
  if (!mode || mode->step() != SQLITE_ROW || mode->text(0) != "wal")
    return std::unexpected(config.path + ": cannot switch to WAL mode: " + db->error());
  mode = sql::Stmt{};
  if (auto r = db->exec(config.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"); !r)
    return std::unexpected(config.path + ": " + r.error());
  (void)db->exec("PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384;"
                 " PRAGMA journal_size_limit=67108864");
  if (auto r = migrate(*db, kSchemaVersion); !r) return std::unexpected(config.path + ": " + r.error());
  auto store = std::unique_ptr<SqliteStore>(new SqliteStore(std::move(*db), config));
  if (auto r = store->prepare_statements(); !r) return std::unexpected(config.path + ": " + r.error());
  // Roll-ups made for other prefixes (or none yet: a migrated database) are made again.
  if (auto r = store->rebuild_rollups(false); !r) return std::unexpected(config.path + ": roll-ups: " + r.error());
  return store;
}


std::expected<BatchResult, std::string> SqliteStore::write(std::span<const Item> items,
                                                     const std::map<std::string, std::int64_t>& extra) {
  Statements& s = *st_;
  if (auto r = db_.exec(kBegin); !r) return std::unexpected(r.error());
  auto fail = [&](std::string why) -> std::expected<BatchResult, std::string> {
    (void)db_.exec("ROLLBACK");
    return std::unexpected(std::move(why));
  };
  writer_impl::Batch batch(items.size(), extra);
  std::int64_t first_charted = 0, last_charted = 0;  // the batch's rolled-up reports: ids in this range
  std::int64_t last_invalid_id = 0, trimmed_invalid = 0;
  for (const Item& item : items) {
    const Arrival& a = item.arrival;
    batch.arrived(a);
    if (const auto* rej = std::get_if<Rejected>(&item.verdict)) {
      const auto raw = batch.rejected(*rej, config_, invalid_rate_);
      if (!raw) continue;
      s.insert_invalid.bind(1, a.received_ns).bind(2, std::string_view(to_string(a.input))).bind(3, a.peer)
          .bind(4, rej->reason).bind_blob(5, *raw);
      if (!s.insert_invalid.run()) return fail(db_.error());
      last_invalid_id = db_.last_insert_rowid();
      continue;
    }
    const auto& acc = std::get<Accepted>(item.verdict);
    // Every text and blob is bound without a copy (bind_static): s.report's buffers outlive the run.
    sql::Stmt& ins = s.insert_report;
    const std::int64_t chart = writer_impl::chart_of(config_, acc, a.received_ns);
    s.report.bind(ins, 0, item, acc, chart);
    if (!ins.run_rebound()) return fail(db_.error());
    if (db_.changes() == 0) {
      batch.duplicate();
      if (!s.count_duplicate.bind_blob_static(1, acc.digest).run_rebound()) return fail(db_.error());
      continue;
    }
    const std::int64_t id = db_.last_insert_rowid();
    if (chart == 1) {
      if (first_charted == 0) first_charted = id;
      last_charted = id;
    }
    batch.stored(item, acc, id);
  }
  // The cap on refused inputs holds at every commit: the oldest beyond max_invalid go now (ids
  // grow by one per row, so the newest max_invalid have ids above the newest id less max_invalid).
  if (last_invalid_id > 0 && config_.max_invalid > 0) {
    if (!s.trim_invalid.bind(1, last_invalid_id - config_.max_invalid).run()) return fail(db_.error());
    batch.counters["retention.invalid"] += db_.changes();
    trimmed_invalid = db_.changes();
  }
  if (first_charted != 0)
    for (sql::Stmt& add : s.rollup_add)
      if (!add.bind(1, first_charted).bind(2, last_charted).run()) return fail(db_.error());
  if (auto r = writer_impl::finish(db_, s.keys, config_, batch, new_alerts_); !r) return fail(r.error());
  if (auto r = db_.exec("COMMIT"); !r) return fail(r.error());
  batch.result.new_alerts = std::move(new_alerts_);
  new_alerts_.clear();
  invalid_trimmed_ += trimmed_invalid;
  return std::move(batch.result);
}


std::int64_t SqliteStore::live_bytes() {
  const std::int64_t pages = db_.scalar("PRAGMA page_count").value_or(0) - db_.scalar("PRAGMA freelist_count").value_or(0);
  return pages * db_.scalar("PRAGMA page_size").value_or(kPageSize);
}

std::expected<std::int64_t, std::string> SqliteStore::enforce_size() {
  if (config_.max_db_mib <= 0) return 0;
  const std::int64_t bound = config_.max_db_mib << 20;
  std::int64_t invalid = 0, reports = 0;
  // Down to 90% of the bound, so that the next batches do not each pay for a deletion.
  for (int round = 0; round < 1000 && live_bytes() > bound - bound / 10; ++round) {
    const std::int64_t before = invalid + reports;
    if (db_.scalar("SELECT COUNT(*) FROM (SELECT 1 FROM invalid LIMIT 1)").value_or(0) > 0) {
      if (auto r = db_.exec("DELETE FROM invalid WHERE id IN (SELECT id FROM invalid ORDER BY id LIMIT 1000)"); !r)
        return std::unexpected(r.error());
      invalid += db_.changes();
    } else if (auto r = writer_impl::delete_reports(db_, kBegin, "SELECT id FROM reports ORDER BY id LIMIT ?1", 1000, 0, reports); !r) {
      return std::unexpected(r.error());
    }
    if (invalid + reports == before) break;  // nothing left to delete
  }
  if (invalid + reports == 0) return 0;
  (void)db_.exec("PRAGMA incremental_vacuum");
  (void)db_.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  for (const auto& [name, n] : {std::pair{"size.invalid", invalid}, std::pair{"size.reports", reports}})
    if (n > 0) (void)st_->keys.add_counter.bind(1, std::string_view(name)).bind(2, n).run();
  return invalid + reports;
}


std::expected<RetentionResult, std::string> SqliteStore::enforce_retention(std::int64_t now_ns) {
  auto out = writer_impl::enforce_retention(db_, config_, kBegin, now_ns, invalid_trimmed_);
  // Freed pages back to the file system.
  if (out && out->reports + out->invalid + out->alerts + out->keys > 0) (void)db_.exec("PRAGMA incremental_vacuum");
  return out;
}

std::expected<std::int64_t, std::string> SqliteStore::save_own_flows(std::span<const OwnFlow> flows,
                                                                     std::int64_t window_ms, std::int64_t max_flows) {
  return writer_impl::save_own_flows(db_, kBegin, flows, window_ms, max_flows);
}

std::expected<std::int64_t, std::string> SqliteStore::load_own_flows(const std::function<void(const OwnFlow&)>& take) {
  return writer_impl::load_own_flows(db_, take);
}

std::expected<std::int64_t, std::string> SqliteStore::rejudge_suspects(
    const std::function<SpoofStatus(const ReportFields&)>& judge, std::int64_t since_ns, std::int64_t limit) {
  return writer_impl::rejudge_suspects(db_, kBegin, judge, since_ns, limit);
}

}  // namespace overflowd::store
