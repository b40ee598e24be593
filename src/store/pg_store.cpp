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
};

// Transaction advisory locks are keyed by 64-bit numbers: this one is the schema's, the retention's.
constexpr std::int64_t kSchemaLock = 0x6f766572666c6f01;  // "overflo" 01
constexpr std::int64_t kRetentionLock = 0x6f766572666c6f02;

std::string key_hex(const report::PublicKey& k) { return core::to_hex(k); }

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

std::int64_t PgStore::chart_of(const Accepted& acc, std::int64_t received_ns) const {
  const core::IpAddress& d = acc.fields.daddr;
  if (d.empty() || std::none_of(config_.my_prefixes.begin(), config_.my_prefixes.end(),
                                [&](const receive::Cidr& p) { return p.contains(d); }))
    return 0;
  const std::int64_t received_ms = received_ns / 1'000'000, stime = acc.fields.stime;
  const bool plausible = acc.time_flag == TimeFlag::ok && stime >= received_ms - config_.chart_max_past_ms &&
                         stime <= received_ms + config_.chart_max_future_ms;
  return plausible ? 1 : 2;
}

// As SqliteStore::rebuild_rollups: the roll-ups are made again when they were made for other
// prefixes or bounds (receivers sharing a database are meant to share --my-prefix).
std::expected<bool, std::string> PgStore::rebuild_rollups() {
  std::string basis = "past_ms=" + std::to_string(config_.chart_max_past_ms) +
                      ";future_ms=" + std::to_string(config_.chart_max_future_ms) + ";prefixes=";
  for (const auto& p : config_.my_prefixes) basis += p.to_string() + ",";
  auto fail = [&](std::string why) -> std::expected<bool, std::string> {
    (void)db_.exec_native("ROLLBACK");
    return std::unexpected(std::move(why));
  };
  if (auto r = db_.exec_native("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kRetentionLock) + ")"); !r)
    return fail(r.error());
  {
    auto q = db_.prepare("SELECT value FROM rollup_state WHERE name = 'basis'");
    if (!q) return fail(q.error());
    if (q->step() == pg::kRow && q->text(0) == basis) {
      q->reset();
      (void)db_.exec_native("COMMIT");
      return false;
    }
  }
  std::string mine = "FALSE";
  for (std::size_t i = 0; i < config_.my_prefixes.size(); ++i)
    mine += " OR daddr_bin BETWEEN ?" + std::to_string(2 * i + 3) + " AND ?" + std::to_string(2 * i + 4);
  auto mark = db_.prepare("UPDATE reports SET chart = CASE WHEN time_flag = 0 AND stime BETWEEN received_ns / 1000000 - ?1"
                          " AND received_ns / 1000000 + ?2 THEN 1 ELSE 2 END WHERE " + mine);
  if (!mark) return fail(mark.error());
  mark->bind(1, config_.chart_max_past_ms).bind(2, config_.chart_max_future_ms);
  for (std::size_t i = 0; i < config_.my_prefixes.size(); ++i) {
    const Key16 lo = low(config_.my_prefixes[i]), hi = high(config_.my_prefixes[i]);
    mark->bind_blob(static_cast<int>(2 * i + 3), lo).bind_blob(static_cast<int>(2 * i + 4), hi);
  }
  std::string sql = "UPDATE reports SET chart = 0 WHERE chart <> 0;";
  for (const rollup::Table& t : rollup::tables()) sql += "DELETE FROM " + std::string(t.name) + ";";
  if (auto r = db_.exec_native(sql); !r) return fail(r.error());
  if (!mark->run()) return fail(db_.error());
  for (const rollup::Table& t : rollup::tables())
    if (auto r = db_.exec_native(dialect::to_postgres(rollup_add_pg(t, "TRUE")).sql); !r) return fail(r.error());
  auto state = db_.prepare_native("INSERT INTO rollup_state(name, value) VALUES('basis', $1)"
                                  " ON CONFLICT (name) DO UPDATE SET value = excluded.value");
  if (!state || !state->bind(1, basis).run()) return fail(db_.error());
  if (auto r = db_.exec_native("COMMIT"); !r) return fail(r.error());
  return true;
}

struct PgStore::KeyBatch {
  struct Contact {
    std::string email, identity;
    std::int64_t first_ns = 0, last_ns = 0, reports = 0, first_report_id = 0;
  };
  std::int64_t last_ns = 0, reports = 0, first_ns = 0;
  std::vector<Contact> contacts;
  std::vector<std::string> exporters, prefixes;
  std::set<core::IpAddress> exporters_seen, prefixes_seen;
};

struct PgStore::KeyStatements {
  pg::Stmt select_key, insert_key, update_key, insert_contact, update_contact, other_identity, other_email, over_email,
      over_identity, delete_contact, count_contacts, count_recent, insert_exporter, insert_prefix, insert_alert;
};

PgStore::PgStore(pg::Db db, StoreConfig config) : db_(std::move(db)), config_(std::move(config)) {}
PgStore::~PgStore() = default;

// Prepared on the writer's connection once per connection (again after a reconnection).
std::expected<void, std::string> PgStore::prepare_key_statements() {
  if (key_statements_ && key_statements_generation_ == db_.generation()) return {};
  auto k = std::make_unique<KeyStatements>();
  const std::pair<pg::Stmt*, std::string_view> defs[] = {
      {&k->select_key, stmt::select_key},
      {&k->insert_key, "INSERT INTO keys(key, first_seen_ns, last_seen_ns, reports, email, identity) VALUES(?1, ?2, ?2, 0, '', '')"},
      {&k->update_key, "UPDATE keys SET last_seen_ns = MAX(last_seen_ns, ?2), reports = reports + ?3, exporters = ?4,"
                       " prefixes = ?5, email = ?6, identity = ?7, alerts = alerts + ?8 WHERE key = ?1"},
      {&k->insert_contact, "INSERT OR IGNORE INTO key_contacts(key, email, identity, first_seen_ns, last_seen_ns, reports)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
      {&k->update_contact, stmt::update_contact},
      {&k->other_identity, stmt::other_keys_identity},
      {&k->other_email, stmt::other_keys_email},
      {&k->over_email, stmt::over_email},
      {&k->over_identity, stmt::over_identity},
      {&k->delete_contact, stmt::delete_contact},
      {&k->count_contacts, stmt::count_contacts},
      {&k->count_recent, stmt::count_recent_alerts},
      {&k->insert_exporter, "INSERT OR IGNORE INTO key_exporters(key, exporter, first_seen_ns) VALUES(?1, ?2, ?3)"},
      {&k->insert_prefix, "INSERT OR IGNORE INTO key_prefixes(key, prefix, first_seen_ns) VALUES(?1, ?2, ?3)"},
      {&k->insert_alert, "INSERT INTO alerts(created_ns, kind, key, report_id, detail) VALUES(?1, ?2, ?3, ?4, ?5)"},
  };
  for (const auto& [into, sql] : defs) {
    auto st = db_.prepare(sql);
    if (!st) return std::unexpected(st.error());
    *into = std::move(*st);
  }
  key_statements_ = std::move(k);
  key_statements_generation_ = db_.generation();
  return {};
}

// SqliteStore::flush_key's steps, over the same statements (statements.hpp), translated.
std::expected<std::size_t, std::string> PgStore::flush_key(const std::string& key, const KeyBatch& kb, std::int64_t now_ns,
                                                           std::int64_t& suppressed_alerts) {
  KeyStatements& ks = *key_statements_;
  pg::Stmt *select_key = &ks.select_key, *insert_key = &ks.insert_key, *update_key = &ks.update_key,
           *insert_contact = &ks.insert_contact, *update_contact = &ks.update_contact, *other_identity = &ks.other_identity,
           *other_email = &ks.other_email, *over_email = &ks.over_email, *over_identity = &ks.over_identity,
           *delete_contact = &ks.delete_contact, *count_contacts = &ks.count_contacts, *count_recent = &ks.count_recent,
           *insert_exporter = &ks.insert_exporter, *insert_prefix = &ks.insert_prefix, *insert_alert = &ks.insert_alert;

  std::string email, identity;
  std::int64_t exporters = 0, prefixes = 0;
  bool has_contact = false;
  select_key->bind(1, key);
  const int got = select_key->step();
  if (got == pg::kError) return std::unexpected(db_.error());
  if (got == pg::kRow) {
    email = select_key->text(0);
    identity = select_key->text(1);
    exporters = select_key->i64(2);
    prefixes = select_key->i64(3);
    has_contact = select_key->i64(4) > 0;
  } else if (!insert_key->bind(1, key).bind(2, kb.first_ns).run()) {
    return std::unexpected(db_.error());
  }
  select_key->reset();

  std::size_t alerts = 0;
  std::int64_t alert_budget = -1;
  auto alert = [&](const char* kind, std::int64_t report_id, const nlohmann::json& detail) -> bool {
    if (alert_budget < 0) {
      count_recent->bind(1, key).bind(2, now_ns - std::int64_t{3600} * 1'000'000'000);
      const std::int64_t recent = count_recent->step() == pg::kRow ? count_recent->i64(0) : 0;
      count_recent->reset();
      alert_budget = std::max<std::int64_t>(0, stmt::kMaxAlertsPerKeyPerHour - recent);
    }
    if (alert_budget == 0) {
      ++suppressed_alerts;
      return true;
    }
    --alert_budget;
    ++alerts;
    std::string text = detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!insert_alert->bind(1, now_ns).bind(2, std::string_view(kind)).bind(3, key).bind(4, report_id).bind(5, text).run())
      return false;
    new_alerts_.push_back(NewAlert{kind, key, report_id, now_ns, std::move(text)});
    return true;
  };
  std::int64_t contacts = 0;
  if (!kb.contacts.empty()) {
    count_contacts->bind(1, key);
    contacts = count_contacts->step() == pg::kRow ? count_contacts->i64(0) : 0;
    count_contacts->reset();
  }
  auto trim = [&](pg::Stmt& over, const std::string& value, bool by_email) -> bool {
    if (value.empty()) return true;
    std::vector<std::pair<std::string, std::string>> gone;
    over.bind(1, value).bind(2, std::int64_t{stmt::kMaxKeysPerContact});
    while (over.step() == pg::kRow) gone.emplace_back(over.text(0), over.text(1));
    over.reset();
    for (const auto& [k, other] : gone) {
      delete_contact->bind(1, k).bind(2, by_email ? value : other).bind(3, by_email ? other : value);
      if (!delete_contact->run()) return false;
    }
    return true;
  };
  for (const auto& c : kb.contacts) {
    bool inserted = false;
    if (contacts < config_.max_per_key) {
      insert_contact->bind(1, key).bind(2, c.email).bind(3, c.identity).bind(4, c.first_ns).bind(5, c.last_ns).bind(6, c.reports);
      if (insert_contact->step() == pg::kError) return std::unexpected(db_.error());
      inserted = insert_contact->changes() > 0;
      contacts += insert_contact->changes();
      insert_contact->reset();
    }
    if (!inserted) {
      if (!update_contact->bind(1, key).bind(2, c.email).bind(3, c.identity).bind(4, c.last_ns).bind(5, c.reports).run())
        return std::unexpected(db_.error());
    } else {
      if (has_contact && (c.email != email || c.identity != identity)) {
        const nlohmann::json detail = {{"from", {{"email", email}, {"identity", identity}}},
                                       {"to", {{"email", c.email}, {"identity", c.identity}}}};
        if (!alert("contact_changed", c.first_report_id, detail)) return std::unexpected(db_.error());
      }
      nlohmann::json previous = nlohmann::json::array();
      std::vector<std::string> matched;
      auto others = [&](pg::Stmt& q, const std::string& value, const char* field) {
        if (value.empty()) return;
        q.bind(1, value).bind(2, key);
        std::vector<std::string> seen;
        while (seen.size() < 8 && q.step() == pg::kRow) {
          std::string k = q.text(0);
          if (std::find(seen.begin(), seen.end(), k) != seen.end()) continue;
          if (std::find(previous.begin(), previous.end(), k) == previous.end()) previous.push_back(k);
          seen.push_back(std::move(k));
        }
        q.reset();
        if (!seen.empty()) matched.emplace_back(field);
      };
      others(*other_identity, c.identity, "identity");
      others(*other_email, c.email, "email");
      if (!trim(*over_email, c.email, true) || !trim(*over_identity, c.identity, false)) return std::unexpected(db_.error());
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
    if (insert_exporter->bind(1, key).bind(2, e).bind(3, kb.first_ns).step() == pg::kError) return std::unexpected(db_.error());
    exporters += insert_exporter->changes();
    insert_exporter->reset();
  }
  for (const auto& p : kb.prefixes) {
    if (prefixes >= config_.max_per_key) break;
    if (insert_prefix->bind(1, key).bind(2, p).bind(3, kb.first_ns).step() == pg::kError) return std::unexpected(db_.error());
    prefixes += insert_prefix->changes();
    insert_prefix->reset();
  }
  if (!update_key->bind(1, key).bind(2, kb.last_ns).bind(3, kb.reports).bind(4, exporters).bind(5, prefixes)
           .bind(6, email).bind(7, identity).bind(8, static_cast<std::int64_t>(alerts)).run())
    return std::unexpected(db_.error());
  return alerts;
}

std::expected<BatchResult, std::string> PgStore::write(std::span<const Item> items,
                                                       const std::map<std::string, std::int64_t>& extra) {
  const auto second = invalid_second_;
  const auto in_second = invalid_in_second_;
  return with_retry([&]() {
    // A retried batch counts its refused inputs' rate from where it began.
    invalid_second_ = second;
    invalid_in_second_ = in_second;
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
  std::string columns = "digest, received_ns, input, peer, form, key, signature, message, time_flag, spoof, kid, chart";
  for (const report::SchemaField& field : report::report_schema()) {
    if (field.column.empty()) continue;
    for (const std::string& column : {std::string(field.column), std::string(field.column) + "_bin"}) {
      if (column.ends_with("_bin") && !field.range_index) continue;
      columns += ", " + column;
    }
  }
  if (auto r = prepare_key_statements(); !r) return fail(r.error());
  if (auto r = db_.exec_native("BEGIN"); !r) return fail(r.error());
  // Every key, email and identity of the batch, locked for the transaction in one order (so two
  // receivers never wait on each other in a cycle): the continuity check of a key sees every
  // batch about it that committed before, as with SQLite's one writer.
  std::set<std::string> names;
  for (const Item& item : items)
    if (const auto* acc = std::get_if<Accepted>(&item.verdict)) {
      names.insert("k:" + key_hex(acc->key));
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
  auto add_counter = db_.prepare_native("INSERT INTO counters(name, value) VALUES($1, $2)"
                                        " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value");
  auto trim_invalid = db_.prepare(stmt::trim_invalid);
  for (auto* s : {&count_duplicate, &insert_invalid, &add_counter, &trim_invalid})
    if (!*s) return fail(s->error());
  const auto schema = report::report_schema();
  // The batch's reports go in multi-row INSERTs (one round trip per ~150 reports, not one per
  // report); RETURNING names the rows stored, by digest: the others (and a report's second
  // copy within the batch) are duplicates.
  std::vector<std::int64_t> inserted(items.size(), 0);
  {
    std::vector<std::string> cols;
    for (std::size_t at = 0; at < columns.size();) {
      const std::size_t comma = columns.find(", ", at);
      cols.push_back(columns.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      at = comma == std::string::npos ? columns.size() : comma + 2;
    }
    const std::size_t ncol = cols.size();
    auto index_of = [&](std::string_view n) {
      return static_cast<int>(std::find(cols.begin(), cols.end(), n) - cols.begin());
    };
    struct Own {
      int digest, received_ns, input, peer, form, key, signature, message, time_flag, spoof, kid, chart;
    };
    const Own own{index_of("digest"), index_of("received_ns"), index_of("input"), index_of("peer"), index_of("form"),
                  index_of("key"), index_of("signature"), index_of("message"), index_of("time_flag"), index_of("spoof"),
                  index_of("kid"), index_of("chart")};
    std::vector<int> field_at, bin_at;
    for (const report::SchemaField& field : schema) {
      field_at.push_back(field.column.empty() ? -1 : index_of(field.column));
      bin_at.push_back(field.range_index ? index_of(std::string(field.column) + "_bin") : -1);
    }
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
        const Arrival& a = item.arrival;
        const auto& acc = std::get<Accepted>(item.verdict);
        const ReportFields& f = acc.fields;
        const auto base = static_cast<int>(r * ncol) + 1;
        ins->bind_blob(base + own.digest, acc.digest).bind(base + own.received_ns, a.received_ns)
            .bind(base + own.input, std::string_view(to_string(a.input))).bind(base + own.peer, a.peer)
            .bind(base + own.form, std::string_view(acc.compact ? "compact" : "full")).bind(base + own.key, key_hex(acc.key))
            .bind_blob(base + own.signature, acc.signature).bind(base + own.message, acc.message)
            .bind(base + own.time_flag, std::int64_t{static_cast<std::uint8_t>(acc.time_flag)})
            .bind(base + own.spoof, std::int64_t{static_cast<std::int8_t>(item.spoof)}).bind(base + own.kid, acc.kid)
            .bind(base + own.chart, chart_of(acc, a.received_ns));
        for (std::size_t i = 0; i < schema.size(); ++i) {
          const report::SchemaField& field = schema[i];
          if (field_at[i] < 0) continue;
          const int at = base + field_at[i];
          switch (field.type) {
            case report::FieldType::text:
              ins->bind(at, std::string_view(f.*field.text));
              break;
            case report::FieldType::integer:
              ins->bind(at, f.*field.integer);
              break;
            case report::FieldType::boolean:
              ins->bind(at, std::int64_t{f.*field.flag ? 1 : 0});
              break;
            case report::FieldType::number:
              if (f.*field.present) ins->bind(at, f.*field.number);
              else ins->bind_null(at);
              break;
            case report::FieldType::address: {
              const core::IpAddress& addr = f.*field.address;
              std::array<char, core::IpAddress::kMaxText> text{};
              ins->bind(at, std::string_view(text.data(), addr.empty() ? 0 : addr.format(text.data())));
              if (bin_at[i] < 0) break;
              if (addr.empty()) ins->bind_null(base + bin_at[i]);
              else ins->bind_blob(base + bin_at[i], to_key16(addr));
              break;
            }
          }
        }
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

  BatchResult result;
  std::map<std::string, std::int64_t> counters = extra;
  std::array<std::int64_t, 5> received{};
  std::array<std::int64_t, 4> times{};
  std::int64_t suspects = 0;
  std::map<report::PublicKey, KeyBatch> keys;
  std::vector<std::int64_t> charted;  // the batch's rolled-up reports
  std::int64_t last_invalid_id = 0, trimmed_invalid = 0;
  result.outcomes.reserve(items.size());
  for (const Item& item : items) {
    const Arrival& a = item.arrival;
    ++received[static_cast<std::size_t>(a.input) % received.size()];
    if (const auto* rej = std::get_if<Rejected>(&item.verdict)) {
      ++result.rejected;
      result.outcomes.push_back(Outcome::rejected);
      ++counters["invalid." + rej->reason];
      const std::int64_t sec = config_.clock->wall_ns() / 1'000'000'000;
      if (sec != invalid_second_) {
        invalid_second_ = sec;
        invalid_in_second_ = 0;
      }
      const std::int64_t nth = invalid_in_second_++;
      std::string_view raw = rej->raw;
      if (config_.invalid_per_s > 0 && nth >= config_.invalid_per_s) {
        if ((nth - config_.invalid_per_s) % SqliteStore::kInvalidSampling != 0) {
          ++counters["invalid.not_stored"];
          continue;
        }
        raw = raw.substr(0, SqliteStore::kInvalidSampledBytes);
        ++counters["invalid.sampled"];
      }
      insert_invalid->bind(1, a.received_ns).bind(2, std::string_view(to_string(a.input))).bind(3, a.peer)
          .bind(4, rej->reason).bind_blob(5, raw);
      if (insert_invalid->step() != pg::kRow) return fail(db_.error());
      last_invalid_id = insert_invalid->i64(0);
      insert_invalid->reset();
      continue;
    }
    const auto& acc = std::get<Accepted>(item.verdict);
    const ReportFields& f = acc.fields;
    const std::int64_t chart = chart_of(acc, a.received_ns);
    const std::int64_t id = inserted[static_cast<std::size_t>(&item - items.data())];
    if (id == 0) {
      ++result.duplicates;
      result.outcomes.push_back(Outcome::duplicate);
      if (!count_duplicate->bind_blob(1, acc.digest).run()) return fail(db_.error());
      continue;
    }

    if (chart == 1) charted.push_back(id);
    ++result.stored;
    result.outcomes.push_back(Outcome::stored);
    ++times[static_cast<std::size_t>(acc.time_flag) % times.size()];
    if (item.spoof == SpoofStatus::suspect) ++suspects;

    KeyBatch& kb = keys[acc.key];
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
      std::array<std::byte, 16> b{};
      for (std::size_t i = 0; i < addr->size(); ++i) b[i] = std::byte{addr->bytes()[i]};
      if (addr->is_v4()) b[3] = std::byte{0};
      else std::fill(b.begin() + 6, b.end(), std::byte{0});
      if (kb.prefixes_seen.insert(core::IpAddress::from_bytes(std::span(b.data(), addr->size()))).second)
        kb.prefixes.push_back(aggregate_prefix(*addr));
    }
  }
  if (last_invalid_id > 0 && config_.max_invalid > 0) {
    if (trim_invalid->bind(1, last_invalid_id - config_.max_invalid).step() == pg::kError) return fail(db_.error());
    counters["retention.invalid"] += trim_invalid->changes();
    trimmed_invalid = trim_invalid->changes();
    trim_invalid->reset();
  }
  if (!charted.empty()) {
    // Exactly this transaction's rows (another receiver's ids may lie between them).
    std::string ids = "{";
    for (const std::int64_t id : charted) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
    ids += "}";
    for (const rollup::Table& t : rollup::tables()) {
      auto add = db_.prepare_native(dialect::to_postgres(rollup_add_pg(t, "r.id = ANY(?1::bigint[])")).sql);
      if (!add || !add->bind(1, ids).run()) return fail(add ? db_.error() : add.error());
    }
  }
  const std::int64_t now = config_.clock->wall_ns();
  std::int64_t suppressed_alerts = 0;
  new_alerts_.clear();
  for (const auto& [key, kb] : keys) {
    auto n = flush_key(key_hex(key), kb, now, suppressed_alerts);
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
  // The connection's troubles since the last batch that committed.
  const std::uint64_t rc = reconnects_.load(), rt = retries_.load();
  if (rc > reconnects_counted_) counters["postgres.reconnects"] += static_cast<std::int64_t>(rc - reconnects_counted_);
  if (rt > retries_counted_) counters["postgres.retries"] += static_cast<std::int64_t>(rt - retries_counted_);
  for (const auto& [name, value] : counters) {
    if (value == 0) continue;
    if (!add_counter->bind(1, name).bind(2, value).run()) return fail(db_.error());
  }
  if (auto r = db_.exec_native("COMMIT"); !r) return fail(r.error());
  reconnects_counted_ = rc;
  retries_counted_ = rt;
  result.new_alerts = std::move(new_alerts_);
  new_alerts_.clear();
  invalid_trimmed_ += trimmed_invalid;
  return result;
}

std::expected<void, std::string> PgStore::delete_reports(const std::string& select_ids, std::int64_t limit,
                                                         std::int64_t param, std::int64_t& count) {
  constexpr std::int64_t kChunk = 20'000;
  std::string subtract;
  for (const rollup::Table& t : rollup::tables())
    subtract += dialect::to_postgres(rollup::subtract(t, "r.id IN (SELECT id FROM temp.gone)")).sql + ";" +
                rollup::remove_empty(t) + ";";
  while (limit > 0) {
    const std::int64_t n = std::min(limit, kChunk);
    auto fail = [&](std::string why) -> std::expected<void, std::string> {
      (void)db_.exec_native("ROLLBACK");
      return std::unexpected(std::move(why));
    };
    if (auto r = db_.exec_native("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kRetentionLock) + "); DELETE FROM gone");
        !r)
      return fail(r.error());
    auto pick = db_.prepare("INSERT INTO temp.gone(id) " + select_ids);
    if (!pick) return fail(pick.error());
    if (pick->bind(1, n).bind(2, param).step() == pg::kError) return fail(db_.error());
    const std::int64_t done = pick->changes();
    pick->reset();
    if (auto r = db_.exec_native(subtract + "DELETE FROM reports WHERE id IN (SELECT id FROM pg_temp.gone); DELETE FROM gone;"); !r)
      return fail(r.error());
    if (auto r = db_.exec_native("COMMIT"); !r) return fail(r.error());
    count += done;
    limit -= done;
    if (done < n) break;
  }
  return {};
}

std::expected<RetentionResult, std::string> PgStore::enforce_retention(std::int64_t now_ns) {
  return with_retry([&]() -> std::expected<RetentionResult, std::string> {
    RetentionResult out;
    auto chunked = [&](const std::string& sql, std::int64_t limit, std::int64_t param, std::int64_t& count) -> std::expected<void, std::string> {
      while (limit > 0) {
        const std::int64_t n = std::min<std::int64_t>(limit, 20'000);
        if (auto r = db_.exec_native("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kRetentionLock) + ")"); !r) {
          (void)db_.exec_native("ROLLBACK");
          return std::unexpected(r.error());
        }
        auto st = db_.prepare(sql);
        if (!st || st->bind(1, n).bind(2, param).step() == pg::kError) {
          const std::string why = st ? db_.error() : st.error();
          (void)db_.exec_native("ROLLBACK");
          return std::unexpected(why);
        }
        const std::int64_t done = st->changes();
        st->reset();
        if (auto r = db_.exec_native("COMMIT"); !r) return std::unexpected(r.error());
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
                                std::pair{"DELETE FROM keys WHERE key IN (SELECT key FROM keys WHERE last_seen_ns < ?2 LIMIT ?1)", &out.keys}})
        if (auto r = chunked(sql, kAll, cutoff, *count); !r) return std::unexpected(r.error());
    }
    auto over = [&](const char* table, std::int64_t max) -> std::int64_t {
      if (max <= 0) return 0;
      const auto n = db_.scalar(std::string("SELECT COUNT(*) FROM ") + table);
      return n && *n > max ? *n - max : 0;
    };
    if (auto r = delete_reports("SELECT id FROM reports ORDER BY id LIMIT ?1", over("reports", config_.max_reports), 0, out.reports); !r)
      return std::unexpected(r.error());
    struct Cap {
      const char* table;
      const char* sql;
      std::int64_t max;
      std::int64_t* count;
    };
    for (const Cap& cap : {Cap{"invalid", "DELETE FROM invalid WHERE id IN (SELECT id FROM invalid ORDER BY id LIMIT ?1)",
                               config_.max_invalid, &out.invalid},
                           Cap{"alerts", "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts ORDER BY id LIMIT ?1)",
                               config_.max_alerts, &out.alerts},
                           Cap{"keys", "DELETE FROM keys WHERE key IN (SELECT key FROM keys ORDER BY last_seen_ns LIMIT ?1)",
                               config_.max_keys, &out.keys}})
      if (auto r = chunked(cap.sql, over(cap.table, cap.max), 0, *cap.count); !r) return std::unexpected(r.error());
    if (out.keys > 0)
      if (auto r = db_.exec_native("BEGIN;"
                                   "DELETE FROM key_contacts WHERE key NOT IN (SELECT key FROM keys);"
                                   "DELETE FROM key_exporters WHERE key NOT IN (SELECT key FROM keys);"
                                   "DELETE FROM key_prefixes WHERE key NOT IN (SELECT key FROM keys);"
                                   "COMMIT;");
          !r) {
        (void)db_.exec_native("ROLLBACK");
        return std::unexpected(r.error());
      }
    if (out.alerts > 0)
      (void)db_.exec_native("UPDATE keys SET alerts = (SELECT COUNT(*) FROM alerts a WHERE a.key = keys.key) WHERE alerts > 0");
    auto add = db_.prepare_native("INSERT INTO counters(name, value) VALUES($1, $2)"
                                  " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value");
    if (add)
      for (const auto& [name, n] : {std::pair{"retention.reports", out.reports}, std::pair{"retention.invalid", out.invalid},
                                    std::pair{"retention.alerts", out.alerts}, std::pair{"retention.keys", out.keys}})
        if (n > 0) (void)add->bind(1, std::string_view(name)).bind(2, n).run();
    out.invalid += std::exchange(invalid_trimmed_, 0);
    return out;
  });
}

std::expected<std::int64_t, std::string> PgStore::save_own_flows(std::span<const OwnFlow> flows, std::int64_t window_ms,
                                                                 std::int64_t max_flows) {
  if (flows.empty()) return 0;
  return with_retry([&]() -> std::expected<std::int64_t, std::string> {
    auto fail = [&]() -> std::expected<std::int64_t, std::string> {
      const std::string why = db_.error();
      (void)db_.exec_native("ROLLBACK");
      return std::unexpected(why);
    };
    if (auto r = db_.exec_native("BEGIN"); !r) return std::unexpected(r.error());
    auto ins = db_.prepare("INSERT OR IGNORE INTO own_flows(hash, etime_ms) VALUES(?1, ?2)");
    auto old = db_.prepare(stmt::own_flows_older);
    auto oldest = db_.prepare(stmt::own_flows_oldest);
    if (!ins || !old || !oldest) return fail();
    std::int64_t added = 0;
    for (const OwnFlow& f : flows) {
      if (ins->bind(1, static_cast<std::int64_t>(f.hash)).bind(2, f.etime_ms).step() == pg::kError) return fail();
      added += ins->changes();
      ins->reset();
    }
    const auto newest = db_.scalar("SELECT MAX(etime_ms) FROM own_flows");
    if (newest && window_ms > 0 && !old->bind(1, *newest - window_ms).run()) return fail();
    const std::int64_t count = db_.scalar("SELECT COUNT(*) FROM own_flows").value_or(0);
    if (max_flows > 0 && count > max_flows && !oldest->bind(1, count - max_flows).run()) return fail();
    if (auto r = db_.exec_native("COMMIT"); !r) return fail();
    return added;
  });
}

std::expected<std::int64_t, std::string> PgStore::load_own_flows(const std::function<void(const OwnFlow&)>& take) {
  auto q = db_.prepare("SELECT hash, etime_ms FROM own_flows ORDER BY etime_ms");
  if (!q) return std::unexpected(q.error());
  std::int64_t n = 0;
  while (q->step() == pg::kRow) {
    take(OwnFlow{static_cast<std::uint64_t>(q->i64(0)), q->i64(1)});
    ++n;
  }
  return n;
}

std::expected<std::int64_t, std::string> PgStore::rejudge_suspects(const std::function<SpoofStatus(const ReportFields&)>& judge,
                                                                   std::int64_t since_ns, std::int64_t limit) {
  return with_retry([&]() -> std::expected<std::int64_t, std::string> {
    std::vector<std::int64_t> cleared;
    {
      auto q = db_.prepare(stmt::stored_suspects);
      if (!q) return std::unexpected(q.error());
      q->bind(1, std::int64_t{static_cast<std::int8_t>(SpoofStatus::suspect)}).bind(2, since_ns).bind(3, limit);
      int rc;
      while ((rc = q->step()) == pg::kRow) {
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
      if (rc == pg::kError) return std::unexpected(db_.error());
    }
    if (cleared.empty()) return 0;
    auto fail = [&]() -> std::expected<std::int64_t, std::string> {
      const std::string why = db_.error();
      (void)db_.exec_native("ROLLBACK");
      return std::unexpected(why);
    };
    if (auto r = db_.exec_native("BEGIN"); !r) return std::unexpected(r.error());
    // Only rows still suspect: another receiver may have cleared them meanwhile.
    auto up = db_.prepare("UPDATE reports SET spoof = ?2 WHERE id = ?1 AND spoof = ?3");
    auto add = db_.prepare_native("INSERT INTO counters(name, value) VALUES($1, $2)"
                                  " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value");
    if (!up || !add) return fail();
    std::int64_t n = 0;
    for (const std::int64_t id : cleared) {
      if (up->bind(1, id).bind(2, std::int64_t{static_cast<std::int8_t>(SpoofStatus::seen)})
              .bind(3, std::int64_t{static_cast<std::int8_t>(SpoofStatus::suspect)}).step() == pg::kError)
        return fail();
      n += up->changes();
      up->reset();
    }
    if (n > 0 && (!add->bind(1, std::string_view("spoof.suspect")).bind(2, -n).run() ||
                  !add->bind(1, std::string_view("spoof.cleared")).bind(2, n).run()))
      return fail();
    if (auto r = db_.exec_native("COMMIT"); !r) return fail();
    return n;
  });
}

}  // namespace overflowd::store
