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

namespace {


std::string key_hex(const report::PublicKey& k) { return core::to_hex(k); }

}  // namespace

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

struct SqliteStore::Statements {
  // The insert of a report: its columns from the report schema (report/report_schema.hpp), bound
  // by name. Per schema row: its parameter (0: not stored), its _bin parameter, and the buffers
  // its text and sortable form are bound from without a copy.
  struct ReportInsert {
    int digest = 0, received_ns = 0, input = 0, peer = 0, form = 0, key = 0, signature = 0, message = 0,
        time_flag = 0, spoof = 0, kid = 0, chart = 0;
    std::vector<int> field, field_bin;
    std::vector<std::array<char, core::IpAddress::kMaxText>> text;
    std::vector<receive::Key16> bin;
  } report;
  sql::Stmt insert_report, count_duplicate, insert_invalid, add_counter;
  sql::Stmt select_key, insert_key, update_key;
  sql::Stmt insert_contact, update_contact, other_keys_identity, other_keys_email;
  sql::Stmt insert_exporter, insert_prefix, insert_alert;
  sql::Stmt over_email, over_identity, delete_contact, count_contacts, count_recent_alerts;
  std::vector<sql::Stmt> rollup_add;  // per roll-up table: adds the reports with ids in [?1, ?2]
  sql::Stmt trim_invalid;
};

std::expected<void, std::string> SqliteStore::prepare_statements() {
  auto st = std::make_shared<Statements>();
  // The reports table's columns: the receiver's own, then the report schema's.
  std::string columns = "digest, received_ns, input, peer, form, key, signature, message, time_flag, spoof, kid, chart";
  std::string values = ":digest, :received_ns, :input, :peer, :form, :key, :signature, :message, :time_flag, :spoof, :kid, :chart";
  for (const report::SchemaField& field : report::report_schema()) {
    if (field.column.empty()) continue;
    for (const std::string& column : {std::string(field.column), std::string(field.column) + "_bin"}) {
      if (column.ends_with("_bin") && !field.range_index) continue;
      columns += ", " + column;
      values += ", :" + column;
    }
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
      {&st->add_counter,
       "INSERT INTO counters(name, value) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET value = value + ?2"},
      {&st->select_key, stmt::select_key},
      {&st->insert_key,
       "INSERT INTO keys(key, first_seen_ns, last_seen_ns, reports, email, identity) VALUES(?1, ?2, ?2, 0, '', '')"},
      {&st->update_key,
       "UPDATE keys SET last_seen_ns = MAX(last_seen_ns, ?2), reports = reports + ?3, exporters = ?4, prefixes = ?5,"
       " email = ?6, identity = ?7, alerts = alerts + ?8 WHERE key = ?1"},
      {&st->insert_contact,
       "INSERT OR IGNORE INTO key_contacts(key, email, identity, first_seen_ns, last_seen_ns, reports)"
       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
      {&st->update_contact, stmt::update_contact},
      {&st->other_keys_identity, stmt::other_keys_identity},
      {&st->other_keys_email, stmt::other_keys_email},
      {&st->over_email, stmt::over_email},
      {&st->over_identity, stmt::over_identity},
      {&st->delete_contact, stmt::delete_contact},
      {&st->count_contacts, stmt::count_contacts},
      {&st->count_recent_alerts, stmt::count_recent_alerts},
      {&st->insert_exporter, "INSERT OR IGNORE INTO key_exporters(key, exporter, first_seen_ns) VALUES(?1, ?2, ?3)"},
      {&st->insert_prefix, "INSERT OR IGNORE INTO key_prefixes(key, prefix, first_seen_ns) VALUES(?1, ?2, ?3)"},
      {&st->insert_alert, "INSERT INTO alerts(created_ns, kind, key, report_id, detail) VALUES(?1, ?2, ?3, ?4, ?5)"},
  };
  for (const auto& d : defs) {
    auto s = db_.prepare(d.sql);
    if (!s) return std::unexpected(s.error());
    *d.into = std::move(*s);
  }
  auto& r = st->report;
  const sql::Stmt& ins = st->insert_report;
  for (auto [into, name] : {std::pair{&r.digest, "digest"}, {&r.received_ns, "received_ns"}, {&r.input, "input"},
                            {&r.peer, "peer"}, {&r.form, "form"}, {&r.key, "key"}, {&r.signature, "signature"},
                            {&r.message, "message"}, {&r.time_flag, "time_flag"}, {&r.spoof, "spoof"},
                            {&r.kid, "kid"}, {&r.chart, "chart"}})
    *into = ins.parameter(name);
  const auto schema = report::report_schema();
  r.text.resize(schema.size());
  r.bin.resize(schema.size());
  for (const report::SchemaField& field : schema) {
    r.field.push_back(field.column.empty() ? 0 : ins.parameter(field.column));
    r.field_bin.push_back(field.range_index ? ins.parameter(std::string(field.column) + "_bin") : 0);
  }
  for (const rollup::Table& t : rollup::tables()) {
    auto add = db_.prepare(rollup::add(t, "r.id BETWEEN ?1 AND ?2"));
    if (!add) return std::unexpected(add.error());
    st->rollup_add.push_back(std::move(*add));
  }
  if (auto made = db_.exec("CREATE TEMP TABLE IF NOT EXISTS gone(id INTEGER PRIMARY KEY)"); !made) return std::unexpected(made.error());
  st_ = std::move(st);
  return {};
}

std::int64_t SqliteStore::chart_of(const Accepted& acc, std::int64_t received_ns) const {
  const core::IpAddress& d = acc.fields.daddr;
  if (d.empty() || std::none_of(config_.my_prefixes.begin(), config_.my_prefixes.end(), [&](const receive::Cidr& p) { return p.contains(d); }))
    return 0;
  const std::int64_t received_ms = received_ns / 1'000'000, stime = acc.fields.stime;
  const bool plausible = acc.time_flag == TimeFlag::ok && stime >= received_ms - config_.chart_max_past_ms &&
                         stime <= received_ms + config_.chart_max_future_ms;
  return plausible ? 1 : 2;
}

std::string SqliteStore::rollup_basis() const {
  std::string basis = "past_ms=" + std::to_string(config_.chart_max_past_ms) +
                      ";future_ms=" + std::to_string(config_.chart_max_future_ms) + ";prefixes=";
  for (const auto& p : config_.my_prefixes) basis += p.to_string() + ",";
  return basis;
}

std::expected<bool, std::string> SqliteStore::rebuild_rollups(bool always) {
  const std::string basis = rollup_basis();
  if (!always) {
    auto q = db_.prepare("SELECT value FROM rollup_state WHERE name = 'basis'");
    if (!q) return std::unexpected(q.error());
    if (q->step() == SQLITE_ROW && q->text(0) == basis) return false;
  }
  // Which reports are toward my prefixes, and which of those have a plausible time: as chart_of().
  std::string mine = "0";
  for (std::size_t i = 0; i < config_.my_prefixes.size(); ++i)
    mine += " OR daddr_bin BETWEEN ?" + std::to_string(2 * i + 3) + " AND ?" + std::to_string(2 * i + 4);
  auto mark = db_.prepare("UPDATE reports SET chart = CASE WHEN time_flag = 0 AND stime BETWEEN received_ns / 1000000 - ?1"
                          " AND received_ns / 1000000 + ?2 THEN 1 ELSE 2 END WHERE " + mine);
  if (!mark) return std::unexpected(mark.error());
  mark->bind(1, config_.chart_max_past_ms).bind(2, config_.chart_max_future_ms);
  for (std::size_t i = 0; i < config_.my_prefixes.size(); ++i) {
    const Key16 lo = low(config_.my_prefixes[i]), hi = high(config_.my_prefixes[i]);
    mark->bind_blob(static_cast<int>(2 * i + 3), lo).bind_blob(static_cast<int>(2 * i + 4), hi);
  }
  if (auto r = db_.exec("BEGIN IMMEDIATE; UPDATE reports SET chart = 0 WHERE chart <> 0;"); !r) {
    (void)db_.exec("ROLLBACK");
    return std::unexpected(r.error());
  }
  std::string sql;
  for (const rollup::Table& t : rollup::tables()) sql += "DELETE FROM " + std::string(t.name) + ";";
  if (!mark->run() || !db_.exec(sql)) {
    const std::string why = db_.error();
    (void)db_.exec("ROLLBACK");
    return std::unexpected(why);
  }
  sql.clear();
  for (const rollup::Table& t : rollup::tables()) sql += rollup::add(t, "1") + ";";
  auto state = db_.prepare("INSERT OR REPLACE INTO rollup_state(name, value) VALUES('basis', ?1)");
  if (!db_.exec(sql) || !state || !state->bind(1, basis).run()) {
    const std::string why = db_.error();
    (void)db_.exec("ROLLBACK");
    return std::unexpected(why);
  }
  if (auto r = db_.exec("COMMIT"); !r) return std::unexpected(r.error());
  return true;
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

// One key's new reports within a batch, aggregated so the key tables see one update per key.
struct SqliteStore::KeyBatch {
  struct Contact {
    std::string email, identity;
    std::int64_t first_ns = 0, last_ns = 0, reports = 0, first_report_id = 0;
  };
  // metadata.rotation: a statement that verified for this key (its old key), and the report it came in.
  std::optional<report::PublicKey> rotated_from;
  std::int64_t rotation_report_id = 0, rotation_time = 0;
  std::int64_t invalid_rotations = 0;
  std::int64_t last_ns = 0, reports = 0, first_ns = 0;
  std::vector<Contact> contacts;  // in order of first appearance in the batch
  std::vector<std::string> exporters, prefixes;  // distinct within the batch, in order of appearance
  std::set<core::IpAddress> exporters_seen, prefixes_seen;
};

std::expected<bool, std::string> SqliteStore::link_rotation(const std::string& key, const std::string& old_key,
                                                             std::int64_t now_ns) {
  // Rare (once per rotated key): prepared here. Standard SQL, as every statement of the store.
  auto old_first = db_.prepare("SELECT first_seen_ns FROM keys WHERE key = ?1");
  if (!old_first) return std::unexpected(old_first.error());
  if (old_first->bind(1, old_key).step() != SQLITE_ROW) return false;
  const std::int64_t first = old_first->i64(0);
  const std::string_view steps[] = {
      "UPDATE keys SET predecessor = ?2, rotated_ns = ?3,"
      " first_seen_ns = CASE WHEN first_seen_ns < ?4 THEN first_seen_ns ELSE ?4 END WHERE key = ?1",
      "INSERT INTO key_contacts(key, email, identity, first_seen_ns, last_seen_ns, reports)"
      " SELECT ?1, email, identity, first_seen_ns, last_seen_ns, reports FROM key_contacts WHERE key = ?2"
      " ON CONFLICT DO NOTHING",
      "INSERT INTO key_exporters(key, exporter, first_seen_ns)"
      " SELECT ?1, exporter, first_seen_ns FROM key_exporters WHERE key = ?2 ON CONFLICT DO NOTHING",
      "INSERT INTO key_prefixes(key, prefix, first_seen_ns)"
      " SELECT ?1, prefix, first_seen_ns FROM key_prefixes WHERE key = ?2 ON CONFLICT DO NOTHING",
  };
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    auto st = db_.prepare(steps[i]);
    if (!st) return std::unexpected(st.error());
    st->bind(1, key).bind(2, old_key);
    if (i == 0) st->bind(3, now_ns).bind(4, first);
    if (!st->run()) return std::unexpected(db_.error());
  }
  return true;
}

std::expected<std::size_t, std::string> SqliteStore::flush_key(const std::string& key, const KeyBatch& kb,
                                                         std::int64_t now_ns, std::int64_t& suppressed_alerts,
                                                         std::map<std::string, std::int64_t>& counters) {
  Statements& s = *st_;
  std::string email, identity, predecessor;
  std::int64_t exporters = 0, prefixes = 0;
  bool has_contact = false;
  auto read_key = [&] {
    s.select_key.bind(1, key);
    const bool found = s.select_key.step() == SQLITE_ROW;
    if (found) {
      email = s.select_key.text(0);
      identity = s.select_key.text(1);
      exporters = s.select_key.i64(2);
      prefixes = s.select_key.i64(3);
      has_contact = s.select_key.i64(4) > 0;
      predecessor = s.select_key.text(5);
    }
    s.select_key.reset();
    return found;
  };
  if (!read_key()) {
    if (!s.insert_key.bind(1, key).bind(2, kb.first_ns).run()) return std::unexpected(db_.error());
  }
  if (kb.invalid_rotations) counters["rotation.invalid"] += kb.invalid_rotations;
  // Key continuity through a valid rotation statement: linked once, to a key already known; the
  // old key's history (first seen, contacts, exporters, prefixes) is the new key's from now on, so
  // its contact is no new key for that identity.
  bool rotated = false;
  std::string old_hex;
  if (kb.rotated_from && predecessor.empty()) {
    old_hex = key_hex(*kb.rotated_from);
    auto linked = link_rotation(key, old_hex, now_ns);
    if (!linked) return std::unexpected(linked.error());
    if (*linked) {
      rotated = true;
      ++counters["rotation.linked"];
      // Counts and the current contact as the old key left them (unless this key had its own).
      const std::string own_email = email, own_identity = identity;
      const bool had_contact = has_contact;
      (void)read_key();
      auto count = [&](std::string_view table) -> std::int64_t {
        auto q = db_.prepare("SELECT COUNT(*) FROM " + std::string(table) + " WHERE key = ?1");
        return q && q->bind(1, key).step() == SQLITE_ROW ? q->i64(0) : 0;
      };
      exporters = count("key_exporters");
      prefixes = count("key_prefixes");
      auto old_row = db_.prepare("SELECT email, identity FROM keys WHERE key = ?1");
      if (!had_contact && old_row && old_row->bind(1, old_hex).step() == SQLITE_ROW) {
        email = old_row->text(0);
        identity = old_row->text(1);
        has_contact = true;
      } else {
        email = own_email;
        identity = own_identity;
      }
    } else {
      ++counters["rotation.unknown_old_key"];
    }
  }

  std::size_t alerts = 0;
  // Alerts per key are rate-limited: at most kMaxAlertsPerKeyPerHour in the last hour are stored,
  // the rest counted (alerts.suppressed).
  std::int64_t alert_budget = -1;  // unknown until the first alert
  auto alert = [&](const char* kind, std::int64_t report_id, const nlohmann::json& detail) -> bool {
    if (alert_budget < 0) {
      s.count_recent_alerts.bind(1, key).bind(2, now_ns - std::int64_t{3600} * 1'000'000'000);
      const std::int64_t recent = s.count_recent_alerts.step() == SQLITE_ROW ? s.count_recent_alerts.i64(0) : 0;
      s.count_recent_alerts.reset();
      alert_budget = std::max<std::int64_t>(0, stmt::kMaxAlertsPerKeyPerHour - recent);
    }
    if (alert_budget == 0) {
      ++suppressed_alerts;
      return true;
    }
    --alert_budget;
    ++alerts;
    std::string text = detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!s.insert_alert.bind(1, now_ns).bind(2, std::string_view(kind)).bind(3, key).bind(4, report_id).bind(5, text).run())
      return false;
    new_alerts_.push_back(NewAlert{kind, key, report_id, now_ns, std::move(text)});
    return true;
  };
  if (rotated) {
    const nlohmann::json detail = {{"old_key", old_hex}, {"new_key", key}, {"time", kb.rotation_time}};
    if (!alert("key_rotated", kb.rotation_report_id, detail)) return std::unexpected(db_.error());
  }
  // Contacts remembered per key: at most max_per_key (beyond, a new contact is neither remembered
  // nor alerted on; the key's current contact is still updated).
  std::int64_t contacts = 0;
  if (!kb.contacts.empty()) {
    s.count_contacts.bind(1, key);
    contacts = s.count_contacts.step() == SQLITE_ROW ? s.count_contacts.i64(0) : 0;
    s.count_contacts.reset();
  }
  // Forgets the contact rows of an email / identity beyond its newest kMaxKeysPerContact.
  auto trim = [&](sql::Stmt& over, const std::string& value, bool by_email) -> bool {
    if (value.empty()) return true;
    std::vector<std::pair<std::string, std::string>> gone;  // key, the other field
    over.bind(1, value).bind(2, std::int64_t{stmt::kMaxKeysPerContact});
    while (over.step() == SQLITE_ROW) gone.emplace_back(over.text(0), over.text(1));
    over.reset();
    for (const auto& [k, other] : gone) {
      s.delete_contact.bind(1, k).bind(2, by_email ? value : other).bind(3, by_email ? other : value);
      if (!s.delete_contact.run()) return false;
    }
    return true;
  };
  for (const auto& c : kb.contacts) {
    bool inserted = false;
    if (contacts < config_.max_per_key) {
      s.insert_contact.bind(1, key).bind(2, c.email).bind(3, c.identity).bind(4, c.first_ns).bind(5, c.last_ns)
          .bind(6, c.reports);
      if (!s.insert_contact.run()) return std::unexpected(db_.error());
      inserted = db_.changes() > 0;
      contacts += db_.changes();
    }
    if (!inserted) {
      if (!s.update_contact.bind(1, key).bind(2, c.email).bind(3, c.identity).bind(4, c.last_ns).bind(5, c.reports).run())
        return std::unexpected(db_.error());
    } else {
      // A contact this key never used before.
      if (has_contact && (c.email != email || c.identity != identity)) {
        const nlohmann::json detail = {{"from", {{"email", email}, {"identity", identity}}},
                                       {"to", {{"email", c.email}, {"identity", c.identity}}}};
        if (!alert("contact_changed", c.first_report_id, detail)) return std::unexpected(db_.error());
      }
      nlohmann::json previous = nlohmann::json::array();
      std::vector<std::string> matched;
      // The first 8 distinct other keys, oldest first, walked in index order (no sort).
      auto others = [&](sql::Stmt& q, const std::string& value, const char* field) {
        if (value.empty()) return;
        q.bind(1, value).bind(2, key);
        std::vector<std::string> seen;
        while (seen.size() < 8 && q.step() == SQLITE_ROW) {
          std::string k = q.text(0);
          if (std::find(seen.begin(), seen.end(), k) != seen.end()) continue;
          if (std::find(previous.begin(), previous.end(), k) == previous.end()) previous.push_back(k);
          seen.push_back(std::move(k));
        }
        q.reset();
        if (!seen.empty()) matched.emplace_back(field);
      };
      others(s.other_keys_identity, c.identity, "identity");
      others(s.other_keys_email, c.email, "email");
      if (!trim(s.over_email, c.email, true) || !trim(s.over_identity, c.identity, false))
        return std::unexpected(db_.error());
      if (!matched.empty()) {
        const nlohmann::json detail = {{"email", c.email}, {"identity", c.identity}, {"matched", matched},
                                       {"previous_keys", previous}};
        if (!alert("identity_new_key", c.first_report_id, detail)) return std::unexpected(db_.error());
      }
    }
    email = c.email;
    identity = c.identity;
    has_contact = true;
  }
  for (const auto& e : kb.exporters) {
    if (exporters >= config_.max_per_key) break;
    if (!s.insert_exporter.bind(1, key).bind(2, e).bind(3, kb.first_ns).run()) return std::unexpected(db_.error());
    exporters += db_.changes();
  }
  for (const auto& p : kb.prefixes) {
    if (prefixes >= config_.max_per_key) break;
    if (!s.insert_prefix.bind(1, key).bind(2, p).bind(3, kb.first_ns).run()) return std::unexpected(db_.error());
    prefixes += db_.changes();
  }
  if (!s.update_key.bind(1, key).bind(2, kb.last_ns).bind(3, kb.reports).bind(4, exporters).bind(5, prefixes)
           .bind(6, email).bind(7, identity).bind(8, static_cast<std::int64_t>(alerts)).run())
    return std::unexpected(db_.error());
  return alerts;
}

std::expected<BatchResult, std::string> SqliteStore::write(std::span<const Item> items,
                                                     const std::map<std::string, std::int64_t>& extra) {
  Statements& s = *st_;
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
  auto fail = [&](std::string why) -> std::expected<BatchResult, std::string> {
    (void)db_.exec("ROLLBACK");
    return std::unexpected(std::move(why));
  };
  BatchResult result;
  std::map<std::string, std::int64_t> counters = extra;
  // Counted here, named once per batch.
  std::array<std::int64_t, 5> received{};  // by Input
  std::array<std::int64_t, 4> times{};     // by TimeFlag
  std::int64_t suspects = 0;
  // Keyed by the raw key: its order is the order of the hex text.
  std::map<report::PublicKey, KeyBatch> keys;
  std::int64_t first_charted = 0, last_charted = 0;  // the batch's rolled-up reports: ids in this range
  std::int64_t last_invalid_id = 0, trimmed_invalid = 0;
  result.outcomes.reserve(items.size());
  for (const Item& item : items) {
    const Arrival& a = item.arrival;
    ++received[static_cast<std::size_t>(a.input) % received.size()];
    if (const auto* rej = std::get_if<Rejected>(&item.verdict)) {
      ++result.rejected;
      result.outcomes.push_back(Outcome::rejected);
      ++counters["invalid." + rej->reason];
      // Past the rate, one in kInvalidSampling is stored, cut short; the others only counted.
      const std::int64_t second = config_.clock->wall_ns() / 1'000'000'000;
      if (second != invalid_second_) {
        invalid_second_ = second;
        invalid_in_second_ = 0;
      }
      const std::int64_t nth = invalid_in_second_++;
      std::string_view raw = rej->raw;
      if (config_.invalid_per_s > 0 && nth >= config_.invalid_per_s) {
        if ((nth - config_.invalid_per_s) % kInvalidSampling != 0) {
          ++counters["invalid.not_stored"];
          continue;
        }
        raw = raw.substr(0, kInvalidSampledBytes);
        ++counters["invalid.sampled"];
      }
      s.insert_invalid.bind(1, a.received_ns).bind(2, std::string_view(to_string(a.input))).bind(3, a.peer)
          .bind(4, rej->reason).bind_blob(5, raw);
      if (!s.insert_invalid.run()) return fail(db_.error());
      last_invalid_id = db_.last_insert_rowid();
      continue;
    }
    const auto& acc = std::get<Accepted>(item.verdict);
    const ReportFields& f = acc.fields;
    // Every text and blob is bound without a copy (bind_static): each buffer below outlives the run.
    std::array<char, 64> key_text;
    for (std::size_t i = 0; i < acc.key.size(); ++i) {
      static constexpr char kDigits[] = "0123456789abcdef";
      key_text[2 * i] = kDigits[acc.key[i] >> 4];
      key_text[2 * i + 1] = kDigits[acc.key[i] & 0xf];
    }
    sql::Stmt& ins = s.insert_report;
    auto& r = s.report;
    ins.bind_blob_static(r.digest, acc.digest).bind(r.received_ns, a.received_ns).bind_static(r.input, to_string(a.input))
        .bind_static(r.peer, a.peer).bind_static(r.form, acc.compact ? "compact" : "full")
        .bind_static(r.key, std::string_view(key_text.data(), key_text.size())).bind_blob_static(r.signature, acc.signature)
        .bind_static(r.message, acc.message).bind(r.time_flag, std::int64_t{static_cast<std::uint8_t>(acc.time_flag)})
        .bind(r.spoof, std::int64_t{static_cast<std::int8_t>(item.spoof)}).bind_static(r.kid, acc.kid);
    const std::int64_t chart = chart_of(acc, a.received_ns);
    ins.bind(r.chart, chart);
    const auto schema = report::report_schema();
    for (std::size_t i = 0; i < schema.size(); ++i) {
      const report::SchemaField& field = schema[i];
      const int at = r.field[i];
      if (at == 0) continue;
      switch (field.type) {
        case report::FieldType::text:
          ins.bind_static(at, f.*field.text);
          break;
        case report::FieldType::integer:
          ins.bind(at, f.*field.integer);
          break;
        case report::FieldType::boolean:
          ins.bind(at, std::int64_t{f.*field.flag ? 1 : 0});
          break;
        case report::FieldType::number:
          if (f.*field.present) ins.bind(at, f.*field.number);
          else ins.bind_null(at);
          break;
        case report::FieldType::address: {
          const core::IpAddress& addr = f.*field.address;
          ins.bind_static(at, std::string_view(r.text[i].data(), addr.empty() ? 0 : addr.format(r.text[i].data())));
          if (r.field_bin[i] == 0) break;
          if (addr.empty()) {
            ins.bind_null(r.field_bin[i]);
          } else {
            r.bin[i] = to_key16(addr);
            ins.bind_blob_static(r.field_bin[i], r.bin[i]);
          }
          break;
        }
      }
    }
    if (!ins.run_rebound()) return fail(db_.error());
    if (db_.changes() == 0) {
      ++result.duplicates;
      result.outcomes.push_back(Outcome::duplicate);
      if (!s.count_duplicate.bind_blob_static(1, acc.digest).run_rebound()) return fail(db_.error());
      continue;
    }
    const std::int64_t id = db_.last_insert_rowid();
    if (chart == 1) {
      if (first_charted == 0) first_charted = id;
      last_charted = id;
    }
    ++result.stored;
    result.outcomes.push_back(Outcome::stored);
    ++times[static_cast<std::size_t>(acc.time_flag) % times.size()];
    if (item.spoof == SpoofStatus::suspect) ++suspects;

    KeyBatch& kb = keys[acc.key];
    if (acc.rotation == Accepted::RotationClaim::valid && !kb.rotated_from) {
      kb.rotated_from = acc.rotated_from;
      kb.rotation_report_id = id;
      kb.rotation_time = acc.rotation_time;
    } else if (acc.rotation == Accepted::RotationClaim::invalid) {
      ++kb.invalid_rotations;
    }
    if (kb.reports == 0) kb.first_ns = a.received_ns;
    ++kb.reports;
    kb.first_ns = std::min(kb.first_ns, a.received_ns);
    kb.last_ns = std::max(kb.last_ns, a.received_ns);
    auto c = std::find_if(kb.contacts.begin(), kb.contacts.end(),
                          [&](const KeyBatch::Contact& x) { return x.email == f.email && x.identity == f.identity; });
    if (c == kb.contacts.end()) {
      kb.contacts.push_back({f.email, f.identity, a.received_ns, a.received_ns, 0, id});
      c = kb.contacts.end() - 1;
    }
    ++c->reports;
    c->last_ns = std::max(c->last_ns, a.received_ns);
    if (!f.exporter.empty() && kb.exporters.size() < 4096 && kb.exporters_seen.insert(f.exporter).second)
      kb.exporters.push_back(f.exporter.to_string());
    for (const core::IpAddress* addr : {&f.saddr, &f.daddr}) {
      if (addr->empty() || kb.prefixes.size() >= 4096) continue;
      // The aggregation prefix's address (its /24 or /48) stands for the prefix.
      std::array<std::byte, 16> b{};
      for (std::size_t i = 0; i < addr->size(); ++i) b[i] = std::byte{addr->bytes()[i]};
      if (addr->is_v4()) b[3] = std::byte{0};
      else std::fill(b.begin() + 6, b.end(), std::byte{0});
      if (kb.prefixes_seen.insert(core::IpAddress::from_bytes(std::span(b.data(), addr->size()))).second)
        kb.prefixes.push_back(aggregate_prefix(*addr));
    }
  }
  // The cap on refused inputs holds at every commit: the oldest beyond max_invalid go now (ids
  // grow by one per row, so the newest max_invalid have ids above the newest id less max_invalid).
  if (last_invalid_id > 0 && config_.max_invalid > 0) {
    if (!s.trim_invalid.bind(1, last_invalid_id - config_.max_invalid).run()) return fail(db_.error());
    counters["retention.invalid"] += db_.changes();
    trimmed_invalid = db_.changes();
  }
  if (first_charted != 0)
    for (sql::Stmt& add : s.rollup_add)
      if (!add.bind(1, first_charted).bind(2, last_charted).run()) return fail(db_.error());
  const std::int64_t now = config_.clock->wall_ns();
  std::int64_t suppressed_alerts = 0;
  new_alerts_.clear();
  // Keys that claim a predecessor go last, so an old key first seen in this batch is known by then.
  for (const bool claims : {false, true})
    for (const auto& [key, kb] : keys) {
      if (kb.rotated_from.has_value() != claims) continue;
      auto n = flush_key(key_hex(key), kb, now, suppressed_alerts, counters);
      if (!n) return fail(n.error());
      result.alerts += *n;
    }
  for (std::size_t i = 0; i < received.size(); ++i)
    if (received[i]) counters[std::string("received.") + to_string(static_cast<Input>(i))] += received[i];
  if (result.rejected) counters["invalid"] += static_cast<std::int64_t>(result.rejected);
  if (result.duplicates) counters["duplicates"] += static_cast<std::int64_t>(result.duplicates);
  if (result.stored) counters["stored"] += static_cast<std::int64_t>(result.stored);
  for (std::size_t i = 1; i < times.size(); ++i)
    if (times[i]) counters[std::string("time.") + to_string(static_cast<TimeFlag>(i))] += times[i];
  if (suspects) counters["spoof.suspect"] += suspects;
  if (result.alerts) counters["alerts"] += static_cast<std::int64_t>(result.alerts);
  if (suppressed_alerts) counters["alerts.suppressed"] += suppressed_alerts;
  for (const auto& [name, value] : counters) {
    if (value == 0) continue;
    if (!s.add_counter.bind(1, name).bind(2, value).run()) return fail(db_.error());
  }
  if (auto r = db_.exec("COMMIT"); !r) return fail(r.error());
  result.new_alerts = std::move(new_alerts_);
  new_alerts_.clear();
  invalid_trimmed_ += trimmed_invalid;
  return result;
}

std::expected<void, std::string> SqliteStore::delete_reports(const char* select_ids, std::int64_t limit,
                                                             std::int64_t param, std::int64_t& count) {
  constexpr std::int64_t kChunk = 20'000;
  // Reports go through temp.gone, so the roll-ups lose exactly what the reports table loses.
  std::vector<sql::Stmt> subtract;
  for (const rollup::Table& t : rollup::tables()) {
    for (const std::string& sql : {rollup::subtract(t, "r.id IN (SELECT id FROM temp.gone)"), rollup::remove_empty(t)}) {
      auto st = db_.prepare(sql);
      if (!st) return std::unexpected(st.error());
      subtract.push_back(std::move(*st));
    }
  }
  auto pick = db_.prepare(std::string("INSERT INTO temp.gone(id) ") + select_ids);
  if (!pick) return std::unexpected(pick.error());
  while (limit > 0) {
    const std::int64_t n = std::min(limit, kChunk);
    if (auto r = db_.exec("BEGIN IMMEDIATE; DELETE FROM temp.gone;"); !r) return std::unexpected(r.error());
    bool ok = pick->bind(1, n).bind(2, param).run();
    const std::int64_t done = ok ? db_.changes() : 0;
    for (sql::Stmt& st : subtract) ok = ok && st.run();
    ok = ok && db_.exec("DELETE FROM reports WHERE id IN (SELECT id FROM temp.gone); DELETE FROM temp.gone;").has_value();
    if (!ok) {
      const std::string why = db_.error();
      (void)db_.exec("ROLLBACK");
      return std::unexpected(why);
    }
    if (auto r = db_.exec("COMMIT"); !r) return std::unexpected(r.error());
    count += done;
    limit -= done;
    if (done < n) break;
  }
  return {};
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
    } else if (auto r = delete_reports("SELECT id FROM reports ORDER BY id LIMIT ?1", 1000, 0, reports); !r) {
      return std::unexpected(r.error());
    }
    if (invalid + reports == before) break;  // nothing left to delete
  }
  if (invalid + reports == 0) return 0;
  (void)db_.exec("PRAGMA incremental_vacuum");
  (void)db_.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  for (const auto& [name, n] : {std::pair{"size.invalid", invalid}, std::pair{"size.reports", reports}})
    if (n > 0) (void)st_->add_counter.bind(1, std::string_view(name)).bind(2, n).run();
  return invalid + reports;
}

std::expected<RetentionResult, std::string> SqliteStore::enforce_retention(std::int64_t now_ns) {
  RetentionResult out;
  constexpr std::int64_t kChunk = 20'000;
  // Deletes `sql` (which takes ?1 = a limit, ?2 = a parameter) in chunks, each its own transaction,
  // so the writer never holds the database for long.
  auto chunked = [&](const char* sql, std::int64_t limit, std::int64_t param, std::int64_t& count) -> std::expected<void, std::string> {
    auto st = db_.prepare(sql);
    if (!st) return std::unexpected(st.error());
    while (limit > 0) {
      const std::int64_t n = std::min(limit, kChunk);
      if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
      if (!st->bind(1, n).bind(2, param).run()) {
        (void)db_.exec("ROLLBACK");
        return std::unexpected(db_.error());
      }
      const std::int64_t done = db_.changes();
      if (auto r = db_.exec("COMMIT"); !r) return std::unexpected(r.error());
      count += done;
      limit -= done;
      if (done < n) break;
    }
    return {};
  };
  constexpr std::int64_t kAll = INT64_MAX;
  if (config_.retention_s > 0) {
    const std::int64_t cutoff = now_ns - config_.retention_s * 1'000'000'000;
    if (auto r = delete_reports("SELECT id FROM reports WHERE received_ns < ?2 LIMIT ?1", kAll, cutoff, out.reports); !r)
      return std::unexpected(r.error());
    for (auto [sql, count] : {std::pair{"DELETE FROM invalid WHERE id IN (SELECT id FROM invalid WHERE received_ns < ?2 LIMIT ?1)", &out.invalid},
                              std::pair{"DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE created_ns < ?2 LIMIT ?1)", &out.alerts},
                              std::pair{"DELETE FROM keys WHERE key IN (SELECT key FROM keys WHERE last_seen_ns < ?2 LIMIT ?1)", &out.keys}}) {
      if (auto r = chunked(sql, kAll, cutoff, *count); !r) return std::unexpected(r.error());
    }
  }
  auto over = [&](const char* table, std::int64_t max) -> std::int64_t {
    if (max <= 0) return 0;
    const auto n = db_.scalar(std::string("SELECT COUNT(*) FROM ") + table);
    return n && *n > max ? *n - max : 0;
  };
  // Beyond the caps: the oldest go.
  struct Cap {
    const char* table;
    const char* sql;
    std::int64_t max;
    std::int64_t* count;
  };
  if (auto r = delete_reports("SELECT id FROM reports ORDER BY id LIMIT ?1", over("reports", config_.max_reports), 0, out.reports); !r)
    return std::unexpected(r.error());
  for (const Cap& cap : {Cap{"invalid", "DELETE FROM invalid WHERE id IN (SELECT id FROM invalid ORDER BY id LIMIT ?1)",
                             config_.max_invalid, &out.invalid},
                         Cap{"alerts", "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts ORDER BY id LIMIT ?1)",
                             config_.max_alerts, &out.alerts},
                         Cap{"keys", "DELETE FROM keys WHERE key IN (SELECT key FROM keys ORDER BY last_seen_ns LIMIT ?1)",
                             config_.max_keys, &out.keys}}) {
    if (auto r = chunked(cap.sql, over(cap.table, cap.max), 0, *cap.count); !r) return std::unexpected(r.error());
  }
  if (out.keys > 0) {
    // The continuity rows of keys that are gone.
    if (auto r = db_.exec("BEGIN IMMEDIATE;"
                          "DELETE FROM key_contacts WHERE key NOT IN (SELECT key FROM keys);"
                          "DELETE FROM key_exporters WHERE key NOT IN (SELECT key FROM keys);"
                          "DELETE FROM key_prefixes WHERE key NOT IN (SELECT key FROM keys);"
                          "COMMIT;");
        !r) {
      (void)db_.exec("ROLLBACK");
      return std::unexpected(r.error());
    }
  }
  // The alert counts on the key rows follow the alerts deleted.
  if (out.alerts > 0)
    (void)db_.exec("UPDATE keys SET alerts = (SELECT COUNT(*) FROM alerts a WHERE a.key = keys.key) WHERE alerts > 0");
  // Freed pages back to the file system.
  if (out.reports + out.invalid + out.alerts + out.keys > 0) (void)db_.exec("PRAGMA incremental_vacuum");
  const std::pair<const char*, std::int64_t> deleted[] = {{"retention.reports", out.reports},
                                                          {"retention.invalid", out.invalid},
                                                          {"retention.alerts", out.alerts},
                                                          {"retention.keys", out.keys}};
  for (const auto& [name, n] : deleted)
    if (n > 0) st_->add_counter.bind(1, std::string_view(name)).bind(2, n).run();
  // Refused inputs beyond the cap went as they were stored (counted then): reported here too.
  out.invalid += std::exchange(invalid_trimmed_, 0);
  return out;
}

std::expected<std::int64_t, std::string> SqliteStore::save_own_flows(std::span<const OwnFlow> flows,
                                                                     std::int64_t window_ms, std::int64_t max_flows) {
  if (own_flows_ < 0) own_flows_ = db_.scalar("SELECT COUNT(*) FROM own_flows").value_or(0);
  if (flows.empty()) return 0;
  auto ins = db_.prepare("INSERT OR IGNORE INTO own_flows(hash, etime_ms) VALUES(?1, ?2)");
  auto old = db_.prepare(stmt::own_flows_older);
  auto oldest = db_.prepare(stmt::own_flows_oldest);
  if (!ins || !old || !oldest) return std::unexpected(db_.error());
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
  auto fail = [&]() -> std::expected<std::int64_t, std::string> {
    const std::string why = db_.error();
    (void)db_.exec("ROLLBACK");
    own_flows_ = -1;
    return std::unexpected(why);
  };
  std::int64_t added = 0;
  for (const OwnFlow& f : flows) {
    if (!ins->bind(1, static_cast<std::int64_t>(f.hash)).bind(2, f.etime_ms).run()) return fail();
    added += db_.changes();
  }
  own_flows_ += added;
  const auto newest = db_.scalar("SELECT MAX(etime_ms) FROM own_flows");
  if (newest && window_ms > 0) {
    if (!old->bind(1, *newest - window_ms).run()) return fail();
    own_flows_ -= db_.changes();
  }
  if (max_flows > 0 && own_flows_ > max_flows) {
    if (!oldest->bind(1, own_flows_ - max_flows).run()) return fail();
    own_flows_ -= db_.changes();
  }
  if (auto r = db_.exec("COMMIT"); !r) return fail();
  return added;
}

std::expected<std::int64_t, std::string> SqliteStore::load_own_flows(const std::function<void(const OwnFlow&)>& take) {
  auto q = db_.prepare("SELECT hash, etime_ms FROM own_flows ORDER BY etime_ms");
  if (!q) return std::unexpected(q.error());
  std::int64_t n = 0;
  while (q->step() == SQLITE_ROW) {
    take(OwnFlow{static_cast<std::uint64_t>(q->i64(0)), q->i64(1)});
    ++n;
  }
  own_flows_ = n;
  return n;
}

std::expected<std::int64_t, std::string> SqliteStore::rejudge_suspects(
    const std::function<SpoofStatus(const ReportFields&)>& judge, std::int64_t since_ns, std::int64_t limit) {
  auto q = db_.prepare(stmt::stored_suspects);
  if (!q) return std::unexpected(q.error());
  q->bind(1, std::int64_t{static_cast<std::int8_t>(SpoofStatus::suspect)}).bind(2, since_ns).bind(3, limit);
  std::vector<std::int64_t> cleared;
  while (q->step() == SQLITE_ROW) {
    ReportFields f;
    f.saddr = core::IpAddress::parse(q->text(1)).value_or(core::IpAddress{});
    f.daddr = core::IpAddress::parse(q->text(2)).value_or(core::IpAddress{});
    f.sport = q->i64(3);
    f.dport = q->i64(4);
    f.protocol = q->i64(5);
    f.stime = q->i64(6);
    f.etime = q->i64(7);
    if (judge(f) == SpoofStatus::seen) cleared.push_back(q->i64(0));
  }
  q = sql::Stmt{};
  if (cleared.empty()) return 0;
  auto up = db_.prepare("UPDATE reports SET spoof = ?2 WHERE id = ?1");
  if (!up) return std::unexpected(up.error());
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
  for (const std::int64_t id : cleared) {
    if (!up->bind(1, id).bind(2, std::int64_t{static_cast<std::int8_t>(SpoofStatus::seen)}).run()) {
      (void)db_.exec("ROLLBACK");
      return std::unexpected(db_.error());
    }
  }
  const auto n = static_cast<std::int64_t>(cleared.size());
  if (!st_->add_counter.bind(1, std::string_view("spoof.suspect")).bind(2, -n).run() ||
      !st_->add_counter.bind(1, std::string_view("spoof.cleared")).bind(2, n).run()) {
    (void)db_.exec("ROLLBACK");
    return std::unexpected(db_.error());
  }
  if (auto r = db_.exec("COMMIT"); !r) return std::unexpected(r.error());
  return n;
}

}  // namespace overflowd::store
