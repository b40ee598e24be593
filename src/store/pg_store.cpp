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

std::expected<std::unique_ptr<PgStore>, std::string> PgStore::open(const StoreConfig& config) {
  // SQLite's bound counts a file's pages; a database that several receivers share is bounded by
  // count and age (and the server's own means): refused rather than silently ignored.
  if (config.max_db_mib > 0)
    return std::unexpected("--max-db-mib bounds a SQLite file and has no effect on PostgreSQL (--db " +
                           redact_url(config.path) + "): leave it at 0 and bound the store by --max-reports and --retention-days");
  auto db = pg::Db::open(config.path);
  if (!db) return std::unexpected(redact_url(config.path) + ": " + db.error());
  // Migrations: one receiver at a time (a session lock), each step in its own transaction.
  if (auto r = db->exec_native("SELECT pg_advisory_lock(" + std::to_string(kSchemaLock) + ")"); !r)
    return std::unexpected(r.error());
  auto unlock = [&] { (void)db->exec_native("SELECT pg_advisory_unlock(" + std::to_string(kSchemaLock) + ")"); };
  auto have = schema_version(*db);
  if (!have) {
    unlock();
    return std::unexpected(have.error());
  }
  if (*have > SqliteStore::kSchemaVersion) {
    unlock();
    return std::unexpected("the database has schema version " + std::to_string(*have) + ", newer than this overflowd (" +
                           std::to_string(SqliteStore::kSchemaVersion) + "): refusing to touch it");
  }
  for (const Migration& m : migrations()) {
    if (m.version <= *have) continue;
    std::string sql = "BEGIN;\n";
    const auto own = std::find_if(std::begin(kPostgresSteps), std::end(kPostgresSteps),
                                  [&](const PostgresStep& s) { return s.version == m.version; });
    sql += own != std::end(kPostgresSteps) ? std::string(own->sql) : dialect::to_postgres(m.sql).sql;
    sql += "\nUPDATE schema_version SET version = " + std::to_string(m.version) + ";\nCOMMIT;";
    if (auto r = db->exec_native(sql); !r) {
      (void)db->exec_native("ROLLBACK");
      unlock();
      return std::unexpected("schema migration to version " + std::to_string(m.version) + " (" + std::string(m.what) +
                             ") failed on PostgreSQL: " + r.error());
    }
  }
  unlock();
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

std::expected<BatchResult, std::string> PgStore::write_once(std::span<const Item> items,
                                                            const std::map<std::string, std::int64_t>& extra) {
  auto fail = [&](std::string why) -> std::expected<BatchResult, std::string> {
    if (db_.ok()) (void)db_.exec_native("ROLLBACK");
    new_alerts_.clear();
    return std::unexpected(std::move(why));
  };
  // The statements of a batch are prepared per batch on the writer's one connection (a few round
  // trips on loopback; a lost connection leaves none behind to prepare again).
  std::string columns;
  for (const std::string& column : writer_impl::report_columns()) columns += (columns.empty() ? "" : ", ") + column;
  if (auto r = prepare_key_statements(); !r) return fail(r.error());
  if (auto r = db_.exec_native("BEGIN"); !r) return fail(r.error());
  // Every key, email and identity of the batch, locked for the transaction in one order (so two
  // receivers never wait on each other in a cycle): the continuity check of a key sees every
  // batch about it that committed before, as with SQLite's one writer.
  std::set<std::string> names;
  for (const Item& item : items)
    if (const auto* acc = std::get_if<Accepted>(&item.verdict)) {
      names.insert("k:" + writer_impl::key_hex(acc->key));
      if (!acc->fields.email.empty()) names.insert("e:" + acc->fields.email);
      if (!acc->fields.identity.empty()) names.insert("i:" + acc->fields.identity);
    }
  if (!names.empty()) {
    std::string list;
    for (const std::string& n : names) {
      list += list.empty() ? "{" : ",";
      list += '"';
      for (const char ch : n) {
        if (ch == '"' || ch == '\\') list += '\\';
        list += ch;
      }
      list += '"';
    }
    list += "}";
    auto lock = db_.prepare_native(
        "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(n, 0) AS h FROM unnest($1::text[]) n) x ORDER BY h");
    if (!lock) return fail(lock.error());
    if (!lock->bind(1, list).run()) return fail(db_.error());
  }
  auto count_duplicate = db_.prepare("UPDATE reports SET duplicates = duplicates + 1 WHERE digest = ?1");
  auto insert_invalid = db_.prepare("INSERT INTO invalid(received_ns, input, peer, reason, raw) VALUES(?1,?2,?3,?4,?5) RETURNING id");
  auto trim_invalid = db_.prepare(stmt::trim_invalid);
  for (auto* s : {&count_duplicate, &insert_invalid, &trim_invalid})
    if (!*s) return fail(s->error());
  // The batch's reports go in multi-row INSERTs (one round trip per ~150 reports, not one per
  // report); RETURNING names the rows stored, by digest: the others (and a report's second
  // copy within the batch) are duplicates.
  std::vector<std::int64_t> inserted(items.size(), 0);
  {
    const std::size_t ncol = writer_impl::report_columns().size();
    writer_impl::ReportRow row;  // pg::Stmt copies what it binds: one row's buffers serve them all
    std::vector<std::size_t> accepted;
    for (std::size_t i = 0; i < items.size(); ++i)
      if (std::holds_alternative<Accepted>(items[i].verdict)) accepted.push_back(i);
    // libpq reads a statement's parameter description (4 bytes a parameter) only under 30,000
    // bytes: at most ~7,000 parameters, so 150 rows of ~40 columns.
    const std::size_t kRowsPerInsert = std::max<std::size_t>(1, 6000 / ncol);
    for (std::size_t from = 0; from < accepted.size(); from += kRowsPerInsert) {
      const std::size_t n = std::min(kRowsPerInsert, accepted.size() - from);
      std::string sql = "INSERT INTO reports(" + columns + ") VALUES ";
      for (std::size_t r = 0; r < n; ++r) {
        sql += r ? ",(" : "(";
        for (std::size_t c = 0; c < ncol; ++c) sql += (c ? ",$" : "$") + std::to_string(r * ncol + c + 1);
        sql += ")";
      }
      sql += " ON CONFLICT DO NOTHING RETURNING id, digest";
      auto ins = db_.prepare_native(sql);
      if (!ins) return fail(ins.error());
      for (std::size_t r = 0; r < n; ++r) {
        const Item& item = items[accepted[from + r]];
        const auto& acc = std::get<Accepted>(item.verdict);
        row.bind(*ins, static_cast<int>(r * ncol), item, acc, writer_impl::chart_of(config_, acc, item.arrival.received_ns));
      }
      std::map<std::string, std::vector<std::int64_t>> stored_ids;  // digest -> ids, in insert order
      int rc;
      while ((rc = ins->step()) == pg::kRow) stored_ids[ins->blob(1)].push_back(ins->i64(0));
      if (rc == pg::kError) return fail(db_.error());
      for (std::size_t r = 0; r < n; ++r) {
        const auto& acc = std::get<Accepted>(items[accepted[from + r]].verdict);
        auto it = stored_ids.find(std::string(reinterpret_cast<const char*>(acc.digest.data()), acc.digest.size()));
        if (it == stored_ids.end() || it->second.empty()) continue;
        inserted[accepted[from + r]] = it->second.front();
        it->second.erase(it->second.begin());
      }
    }
  }

  writer_impl::Batch batch(items.size(), extra);
  std::vector<std::int64_t> charted;  // the batch's rolled-up reports
  std::int64_t last_invalid_id = 0, trimmed_invalid = 0;
  for (const Item& item : items) {
    const Arrival& a = item.arrival;
    batch.arrived(a);
    if (const auto* rej = std::get_if<Rejected>(&item.verdict)) {
      const auto raw = batch.rejected(*rej, config_, invalid_rate_);
      if (!raw) continue;
      insert_invalid->bind(1, a.received_ns).bind(2, std::string_view(to_string(a.input))).bind(3, a.peer)
          .bind(4, rej->reason).bind_blob(5, *raw);
      if (insert_invalid->step() != pg::kRow) return fail(db_.error());
      last_invalid_id = insert_invalid->i64(0);
      insert_invalid->reset();
      continue;
    }
    const auto& acc = std::get<Accepted>(item.verdict);
    const std::int64_t id = inserted[static_cast<std::size_t>(&item - items.data())];
    if (id == 0) {
      batch.duplicate();
      if (!count_duplicate->bind_blob(1, acc.digest).run()) return fail(db_.error());
      continue;
    }
    if (writer_impl::chart_of(config_, acc, a.received_ns) == 1) charted.push_back(id);
    batch.stored(item, acc, id);
  }
  if (last_invalid_id > 0 && config_.max_invalid > 0) {
    if (trim_invalid->bind(1, last_invalid_id - config_.max_invalid).step() == pg::kError) return fail(db_.error());
    batch.counters["retention.invalid"] += trim_invalid->changes();
    trimmed_invalid = trim_invalid->changes();
    trim_invalid->reset();
  }
  if (!charted.empty()) {
    // Exactly this transaction's rows (another receiver's ids may lie between them).
    std::string ids = "{";
    for (const std::int64_t id : charted) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
    ids += "}";
    for (const rollup::Table& t : rollup::tables()) {
      auto add = db_.prepare(rollup_add_pg(t, "r.id = ANY(?1::bigint[])"));
      if (!add || !add->bind(1, ids).run()) return fail(add ? db_.error() : add.error());
    }
  }
  // The connection's troubles since the last batch that committed.
  const std::uint64_t rc = reconnects_.load(), rt = retries_.load();
  if (rc > reconnects_counted_) batch.counters["postgres.reconnects"] += static_cast<std::int64_t>(rc - reconnects_counted_);
  if (rt > retries_counted_) batch.counters["postgres.retries"] += static_cast<std::int64_t>(rt - retries_counted_);
  if (auto r = writer_impl::finish(db_, *key_statements_, config_, batch, new_alerts_, /*prefetch_rows=*/true); !r) return fail(r.error());
  if (auto r = db_.exec_native("COMMIT"); !r) return fail(r.error());
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
