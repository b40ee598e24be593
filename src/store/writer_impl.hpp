// The writer's logic, written once for both stores (as queries_impl.hpp is for the API): the
// accounting of a batch (outcomes, counters, the refused inputs' rate, each key's aggregate), key
// continuity and alerts (flush_key, link_rotation), the roll-ups' rebuild, the own flows' window,
// the re-judging of suspects and retention. Each is a template over the connection type (sql::Db
// for SQLite, pg::Db for PostgreSQL: same shape; the SQL is SQLite's text, translated as pg::Db
// prepares it). store.cpp and pg_store.cpp keep only what really differs: the transaction's
// opening (BEGIN IMMEDIATE; BEGIN plus advisory locks), the reports' insert (one prepared row;
// one INSERT over arrays, the batch's known rows read and its deferred writes sent set-wise),
// reconnection, and SQLite's page accounting.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/encoding.hpp"
#include "receive/prefix.hpp"
#include "report/report_schema.hpp"
#include "store/report_store.hpp"
#include "store/rollups.hpp"
#include "store/statements.hpp"

namespace overflowd::store::writer_impl {

// step()'s values on both connection types (pg.hpp gives SQLite's).
inline constexpr int kRow = 100, kDone = 101;

template <class Db>
using StmtOf = std::remove_cvref_t<decltype(*std::declval<Db&>().prepare(std::string_view{}))>;

inline std::string key_hex(const report::PublicKey& k) { return core::to_hex(k); }

// The counters' upsert (standard SQL: SQLite 3.24+ and PostgreSQL).
inline constexpr std::string_view add_counter =
    "INSERT INTO counters(name, value) VALUES(?1, ?2) ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value";

// 0: not toward my prefixes; 1: rolled up; 2: toward my prefixes with an implausible time.
inline std::int64_t chart_of(const StoreConfig& config, const Accepted& acc, std::int64_t received_ns) {
  const core::IpAddress& d = acc.fields.daddr;
  if (d.empty() || std::none_of(config.my_prefixes.begin(), config.my_prefixes.end(),
                                [&](const receive::Cidr& p) { return p.contains(d); }))
    return 0;
  const std::int64_t received_ms = received_ns / 1'000'000, stime = acc.fields.stime;
  const bool plausible = acc.time_flag == TimeFlag::ok && stime >= received_ms - config.chart_max_past_ms &&
                         stime <= received_ms + config.chart_max_future_ms;
  return plausible ? 1 : 2;
}

// What the roll-ups were made for (rollup_state 'basis'): made again when it changes.
inline std::string rollup_basis(const StoreConfig& config) {
  std::string basis = "past_ms=" + std::to_string(config.chart_max_past_ms) +
                      ";future_ms=" + std::to_string(config.chart_max_future_ms) + ";prefixes=";
  for (const auto& p : config.my_prefixes) basis += p.to_string() + ",";
  return basis;
}

// The reports table's columns, in the inserts' order: the receiver's own, then the report
// schema's (report/report_schema.hpp; a range-indexed one with its sortable _bin form).
inline const std::vector<std::string>& report_columns() {
  static const std::vector<std::string> columns = [] {
    std::vector<std::string> out{"digest", "received_ns", "input", "peer", "form", "key", "signature", "message",
                                 "time_flag", "spoof", "kid", "chart"};
    for (const report::SchemaField& field : report::report_schema()) {
      if (field.column.empty()) continue;
      out.emplace_back(field.column);
      if (field.range_index) out.push_back(std::string(field.column) + "_bin");
    }
    return out;
  }();
  return columns;
}

// A report's values and where they go in one row of an insert (1-based within the row; 0: not stored).
struct ReportRow {
  struct Slots {
    int digest = 0, received_ns = 0, input = 0, peer = 0, form = 0, key = 0, signature = 0, message = 0,
        time_flag = 0, spoof = 0, kid = 0, chart = 0;
    std::vector<int> field, field_bin;  // per report schema row
  } at;
  // The buffers texts and blobs are bound from (SQLite binds them without a copy: they outlive the run).
  std::array<char, 64> key_text{};
  std::vector<std::array<char, core::IpAddress::kMaxText>> text;
  std::vector<receive::Key16> bin;

  ReportRow() {
    const auto& cols = report_columns();
    auto pos = [&](std::string_view n) {
      const auto it = std::find(cols.begin(), cols.end(), n);
      return it == cols.end() ? 0 : static_cast<int>(it - cols.begin()) + 1;
    };
    for (auto [into, name] : {std::pair{&at.digest, "digest"}, {&at.received_ns, "received_ns"}, {&at.input, "input"},
                              {&at.peer, "peer"}, {&at.form, "form"}, {&at.key, "key"}, {&at.signature, "signature"},
                              {&at.message, "message"}, {&at.time_flag, "time_flag"}, {&at.spoof, "spoof"},
                              {&at.kid, "kid"}, {&at.chart, "chart"}})
      *into = pos(name);
    const auto schema = report::report_schema();
    text.resize(schema.size());
    bin.resize(schema.size());
    for (const report::SchemaField& field : schema) {
      at.field.push_back(field.column.empty() ? 0 : pos(field.column));
      at.field_bin.push_back(field.range_index ? pos(std::string(field.column) + "_bin") : 0);
    }
  }

  // Binds `item`'s report at row offset `base` (0 for a one-row insert; r * columns for row r).
  template <class Stmt>
  void bind(Stmt& ins, int base, const Item& item, const Accepted& acc, std::int64_t chart) {
    const Arrival& a = item.arrival;
    const ReportFields& f = acc.fields;
    for (std::size_t i = 0; i < acc.key.size(); ++i) {
      static constexpr char kDigits[] = "0123456789abcdef";
      key_text[2 * i] = kDigits[acc.key[i] >> 4];
      key_text[2 * i + 1] = kDigits[acc.key[i] & 0xf];
    }
    ins.bind_blob_static(base + at.digest, acc.digest).bind(base + at.received_ns, a.received_ns)
        .bind_static(base + at.input, to_string(a.input)).bind_static(base + at.peer, a.peer)
        .bind_static(base + at.form, acc.compact ? "compact" : "full")
        .bind_static(base + at.key, std::string_view(key_text.data(), key_text.size()))
        .bind_blob_static(base + at.signature, acc.signature).bind_static(base + at.message, acc.message)
        .bind(base + at.time_flag, std::int64_t{static_cast<std::uint8_t>(acc.time_flag)})
        .bind(base + at.spoof, std::int64_t{static_cast<std::int8_t>(item.spoof)}).bind_static(base + at.kid, acc.kid)
        .bind(base + at.chart, chart);
    const auto schema = report::report_schema();
    for (std::size_t i = 0; i < schema.size(); ++i) {
      const report::SchemaField& field = schema[i];
      if (at.field[i] == 0) continue;
      const int p = base + at.field[i];
      switch (field.type) {
        case report::FieldType::text:
          ins.bind_static(p, f.*field.text);
          break;
        case report::FieldType::integer:
          ins.bind(p, f.*field.integer);
          break;
        case report::FieldType::boolean:
          ins.bind(p, std::int64_t{f.*field.flag ? 1 : 0});
          break;
        case report::FieldType::number:
          if (f.*field.present) ins.bind(p, f.*field.number);
          else ins.bind_null(p);
          break;
        case report::FieldType::address: {
          const core::IpAddress& addr = f.*field.address;
          ins.bind_static(p, std::string_view(text[i].data(), addr.empty() ? 0 : addr.format(text[i].data())));
          if (at.field_bin[i] == 0) break;
          if (addr.empty()) {
            ins.bind_null(base + at.field_bin[i]);
          } else {
            bin[i] = receive::to_key16(addr);
            ins.bind_blob_static(base + at.field_bin[i], bin[i]);
          }
          break;
        }
      }
    }
  }
};

// One key's new reports within a batch, aggregated so the key tables see one update per key.
struct KeyBatch {
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

  void add(const Accepted& acc, const Arrival& a, std::int64_t id) {
    const ReportFields& f = acc.fields;
    if (acc.rotation == Accepted::RotationClaim::valid && !rotated_from) {
      rotated_from = acc.rotated_from;
      rotation_report_id = id;
      rotation_time = acc.rotation_time;
    } else if (acc.rotation == Accepted::RotationClaim::invalid) {
      ++invalid_rotations;
    }
    if (reports == 0) first_ns = a.received_ns;
    ++reports;
    first_ns = std::min(first_ns, a.received_ns);
    last_ns = std::max(last_ns, a.received_ns);
    auto c = std::find_if(contacts.begin(), contacts.end(),
                          [&](const Contact& x) { return x.email == f.email && x.identity == f.identity; });
    if (c == contacts.end()) {
      contacts.push_back({f.email, f.identity, a.received_ns, a.received_ns, 0, id});
      c = contacts.end() - 1;
    }
    ++c->reports;
    c->last_ns = std::max(c->last_ns, a.received_ns);
    if (!f.exporter.empty() && exporters.size() < 4096 && exporters_seen.insert(f.exporter).second)
      exporters.push_back(f.exporter.to_string());
    for (const core::IpAddress* addr : {&f.saddr, &f.daddr}) {
      if (addr->empty() || prefixes.size() >= 4096) continue;
      // The aggregation prefix's address (its /24 or /48) stands for the prefix.
      std::array<std::byte, 16> b{};
      for (std::size_t i = 0; i < addr->size(); ++i) b[i] = std::byte{addr->bytes()[i]};
      if (addr->is_v4()) b[3] = std::byte{0};
      else std::fill(b.begin() + 6, b.end(), std::byte{0});
      if (prefixes_seen.insert(core::IpAddress::from_bytes(std::span(b.data(), addr->size()))).second)
        prefixes.push_back(receive::aggregate_prefix(*addr));
    }
  }
};

// A batch's accounting: each item's outcome, the counters it adds, its keys' aggregates.
struct Batch {
  BatchResult result;
  std::map<std::string, std::int64_t> counters;
  std::array<std::int64_t, 5> received{};  // by Input
  std::array<std::int64_t, 4> times{};     // by TimeFlag
  std::int64_t suspects = 0, suppressed_alerts = 0;
  // Keyed by the raw key: its order is the order of the hex text.
  std::map<report::PublicKey, KeyBatch> keys;
  // The rows of report_reasons for the batch's reports: (report id, class, rule) per element of
  // metadata.reasons, read from the signed message of the reports that have any (rare: SUSPICIOUS).
  struct ReasonRow {
    std::int64_t report_id;
    std::string report_class, rule;
  };
  std::vector<ReasonRow> reasons;

  Batch(std::size_t items, const std::map<std::string, std::int64_t>& extra) : counters(extra) {
    result.outcomes.reserve(items);
  }
  void arrived(const Arrival& a) { ++received[static_cast<std::size_t>(a.input) % received.size()]; }
  // A refused input: the raw bytes to store (cut short past the rate), or none (only counted).
  std::optional<std::string_view> rejected(const Rejected& rej, const StoreConfig& config, InvalidRate& rate) {
    ++result.rejected;
    result.outcomes.push_back(Outcome::rejected);
    ++counters["invalid." + rej.reason];
    const std::int64_t second = config.clock->wall_ns() / 1'000'000'000;
    if (second != rate.second) {
      rate.second = second;
      rate.in_second = 0;
    }
    const std::int64_t nth = rate.in_second++;
    std::string_view raw = rej.raw;
    if (config.invalid_per_s > 0 && nth >= config.invalid_per_s) {
      if ((nth - config.invalid_per_s) % kInvalidSampling != 0) {
        ++counters["invalid.not_stored"];
        return std::nullopt;
      }
      raw = raw.substr(0, kInvalidSampledBytes);
      ++counters["invalid.sampled"];
    }
    return raw;
  }
  void duplicate() {
    ++result.duplicates;
    result.outcomes.push_back(Outcome::duplicate);
  }
  void stored(const Item& item, const Accepted& acc, std::int64_t id) {
    ++result.stored;
    result.outcomes.push_back(Outcome::stored);
    ++times[static_cast<std::size_t>(acc.time_flag) % times.size()];
    if (item.spoof == SpoofStatus::suspect) ++suspects;
    keys[acc.key].add(acc, item.arrival, id);
    if (!acc.fields.reasons.empty()) add_reasons(acc.message, id);
  }
  // As the migration's backfill reads them (store.cpp, version 12): the objects of
  // metadata.reasons, their "class" and "rule" as text ('' when absent).
  void add_reasons(std::string_view message, std::int64_t id) {
    const nlohmann::json m = nlohmann::json::parse(message, nullptr, false);
    if (m.is_discarded() || !m.is_object()) return;
    const auto md = m.find("metadata");
    if (md == m.end() || !md->is_object()) return;
    const auto list = md->find("reasons");
    if (list == md->end() || !list->is_array()) return;
    const auto text = [](const nlohmann::json& o, const char* name) -> std::string {
      const auto it = o.find(name);
      if (it == o.end() || it->is_null()) return "";
      return it->is_string() ? it->get<std::string>() : it->dump();
    };
    for (const nlohmann::json& r : *list)
      if (r.is_object()) reasons.push_back(ReasonRow{id, text(r, "class"), text(r, "rule")});
  }
  // The batch's counts under their names (once per batch).
  void count() {
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
  }
};

// Which of a batch's (key, contact), (key, exporter) and (key, prefix) rows the database already
// holds, read in a few statements per batch (PostgreSQL: pg_store.cpp) instead of one insert
// attempt per row and key: a
// known row is one whose insert would change nothing (INSERT OR IGNORE), so flush_key skips the
// attempt (and, when all of a key's contacts are known, the count of its contacts). The batch's
// keys are locked (PostgreSQL) or the writer is alone (SQLite), so the answer holds while the
// batch is written, except for the rows flush_key itself changes: a linked rotation (its key's
// rows are then not taken from here) and the contacts trim deletes (taken out of here).
struct Known {
  struct Key {
    std::string email, identity, predecessor;
    std::int64_t exporters = 0, prefixes = 0;
    bool has_contact = false;
  };
  bool read = false;  // the rows were read: `keys` holds every stored key of the batch (else each is selected)
  std::map<std::string, Key> keys;  // the batch's keys already stored (stmt::select_key's row)
  std::set<std::array<std::string, 3>> contacts;  // key, email, identity
  std::set<std::array<std::string, 2>> exporters, prefixes;  // key, exporter / prefix
};

// PostgreSQL: the writes of flush_key that need no answer (the batch's known rows, read first, say
// what each would change), kept to be sent set-wise (one statement per table over arrays, in one
// pipeline with the COMMIT) instead of one statement per row. Null on SQLite: each runs at once.
struct Deferred {
  struct KeyRow {  // a key first seen in this batch (its row made as stmt insert_key would)
    std::string key;
    std::int64_t first_ns = 0;
  };
  struct KeyUpdate {  // as KeyStatements::update_key
    std::string key;
    std::int64_t last_ns = 0, reports = 0, exporters = 0, prefixes = 0;
    std::string email, identity;
    std::int64_t alerts = 0;
  };
  struct ContactUpdate {  // as stmt::update_contact
    std::string key, email, identity;
    std::int64_t last_ns = 0, reports = 0;
  };
  struct Row {  // a (key, exporter) or (key, prefix) row not stored yet
    std::string key, value;
    std::int64_t first_ns = 0;
  };
  std::vector<KeyRow> new_keys;
  std::vector<KeyUpdate> keys;
  std::vector<ContactUpdate> contacts;
  std::vector<Row> exporters, prefixes;
  std::vector<std::pair<std::string, std::int64_t>> counters;
  [[nodiscard]] bool empty() const noexcept {
    return new_keys.empty() && keys.empty() && contacts.empty() && exporters.empty() && prefixes.empty() && counters.empty();
  }
  void clear() { *this = Deferred{}; }
};

// The statements of key continuity, prepared once per connection.
template <class Stmt>
struct KeyStatements {
  Stmt select_key, insert_key, update_key, insert_contact, update_contact, other_keys_identity, other_keys_email,
      over_email, over_identity, delete_contact, count_contacts, count_recent_alerts, insert_exporter, insert_prefix,
      insert_alert, add_counter, insert_reason;
};

template <class Db>
std::expected<void, std::string> prepare(Db& db, KeyStatements<StmtOf<Db>>& k) {
  const std::pair<StmtOf<Db>*, std::string_view> defs[] = {
      {&k.select_key, stmt::select_key},
      {&k.insert_key,
       "INSERT INTO keys(key, first_seen_ns, last_seen_ns, reports, email, identity) VALUES(?1, ?2, ?2, 0, '', '')"},
      {&k.update_key,
       "UPDATE keys SET last_seen_ns = MAX(last_seen_ns, ?2), reports = reports + ?3, exporters = ?4, prefixes = ?5,"
       " email = ?6, identity = ?7, alerts = alerts + ?8 WHERE key = ?1"},
      {&k.insert_contact,
       "INSERT OR IGNORE INTO key_contacts(key, email, identity, first_seen_ns, last_seen_ns, reports)"
       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
      {&k.update_contact, stmt::update_contact},
      {&k.other_keys_identity, stmt::other_keys_identity},
      {&k.other_keys_email, stmt::other_keys_email},
      {&k.over_email, stmt::over_email},
      {&k.over_identity, stmt::over_identity},
      {&k.delete_contact, stmt::delete_contact},
      {&k.count_contacts, stmt::count_contacts},
      {&k.count_recent_alerts, stmt::count_recent_alerts},
      {&k.insert_exporter, "INSERT OR IGNORE INTO key_exporters(key, exporter, first_seen_ns) VALUES(?1, ?2, ?3)"},
      {&k.insert_prefix, "INSERT OR IGNORE INTO key_prefixes(key, prefix, first_seen_ns) VALUES(?1, ?2, ?3)"},
      {&k.insert_alert, "INSERT INTO alerts(created_ns, kind, key, report_id, detail) VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&k.add_counter, add_counter},
      {&k.insert_reason, "INSERT INTO report_reasons(report_id, class, rule) VALUES(?1, ?2, ?3)"},
  };
  for (const auto& [into, sql] : defs) {
    auto st = db.prepare(sql);
    if (!st) return std::unexpected(st.error());
    *into = std::move(*st);
  }
  return {};
}

// Links `key` to its predecessor `old_key` (a valid rotation statement; the old key already known):
// the old key's first-seen, contacts, exporters and prefixes become the new key's too. False
// when the old key is not known (nothing changed). Rare (once per rotated key): prepared here.
template <class Db>
std::expected<bool, std::string> link_rotation(Db& db, const std::string& key, const std::string& old_key,
                                               std::int64_t now_ns) {
  auto old_first = db.prepare("SELECT first_seen_ns FROM keys WHERE key = ?1");
  if (!old_first) return std::unexpected(old_first.error());
  const int got = old_first->bind(1, old_key).step();
  if (got != kRow && got != kDone) return std::unexpected(db.error());
  if (got != kRow) return false;
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
    auto st = db.prepare(steps[i]);
    if (!st) return std::unexpected(st.error());
    st->bind(1, key).bind(2, old_key);
    if (i == 0) st->bind(3, now_ns).bind(4, first);
    if (!st->run()) return std::unexpected(db.error());
  }
  return true;
}

// One key's continuity, contacts, exporters, prefixes and alerts for a batch. Returns the alerts stored.
template <class Db>
std::expected<std::size_t, std::string> flush_key(Db& db, KeyStatements<StmtOf<Db>>& s, const StoreConfig& config,
                                                  const std::string& key, const KeyBatch& kb, std::int64_t now_ns,
                                                  Batch& batch, Known& known, std::vector<NewAlert>& new_alerts,
                                                  Deferred* deferred = nullptr) {
  using Stmt = StmtOf<Db>;
  auto& counters = batch.counters;
  std::string email, identity, predecessor;
  std::int64_t exporters = 0, prefixes = 0;
  bool has_contact = false;
  auto read_key = [&]() -> int {
    s.select_key.bind(1, key);
    const int got = s.select_key.step();
    if (got == kRow) {
      email = s.select_key.text(0);
      identity = s.select_key.text(1);
      exporters = s.select_key.i64(2);
      prefixes = s.select_key.i64(3);
      has_contact = s.select_key.i64(4) > 0;
      predecessor = s.select_key.text(5);
    }
    s.select_key.reset();
    return got;
  };
  // The key's row as the batch's prefetch read it (the keys are this batch's alone meanwhile).
  const auto was = known.keys.find(key);
  if (!known.read) {
    const int got = read_key();
    if (got != kRow && got != kDone) return std::unexpected(db.error());
    if (got == kDone && !s.insert_key.bind(1, key).bind(2, kb.first_ns).run()) return std::unexpected(db.error());
  } else if (was != known.keys.end()) {
    email = was->second.email;
    identity = was->second.identity;
    predecessor = was->second.predecessor;
    exporters = was->second.exporters;
    prefixes = was->second.prefixes;
    has_contact = was->second.has_contact;
  } else if (deferred) {
    deferred->new_keys.push_back({key, kb.first_ns});
  } else if (!s.insert_key.bind(1, key).bind(2, kb.first_ns).run()) {
    return std::unexpected(db.error());
  }
  if (kb.invalid_rotations) counters["rotation.invalid"] += kb.invalid_rotations;
  // Key continuity through a valid rotation statement: linked once, to a key already known; the
  // old key's history (first seen, contacts, exporters, prefixes) is the new key's from now on, so
  // its contact is no new key for that identity.
  bool rotated = false, trust_known = true;
  std::string old_hex;
  if (kb.rotated_from && predecessor.empty()) {
    old_hex = key_hex(*kb.rotated_from);
    auto linked = link_rotation(db, key, old_hex, now_ns);
    if (!linked) return std::unexpected(linked.error());
    if (*linked) {
      rotated = true;
      trust_known = false;  // the old key's rows were copied to this key just now
      ++counters["rotation.linked"];
      // Counts and the current contact as the old key left them (unless this key had its own).
      const std::string own_email = email, own_identity = identity;
      const bool had_contact = has_contact;
      (void)read_key();
      auto count = [&](std::string_view table) -> std::int64_t {
        auto q = db.prepare("SELECT COUNT(*) FROM " + std::string(table) + " WHERE key = ?1");
        return q && q->bind(1, key).step() == kRow ? q->i64(0) : 0;
      };
      exporters = count("key_exporters");
      prefixes = count("key_prefixes");
      auto old_row = db.prepare("SELECT email, identity FROM keys WHERE key = ?1");
      if (!had_contact && old_row && old_row->bind(1, old_hex).step() == kRow) {
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
      const std::int64_t recent = s.count_recent_alerts.step() == kRow ? s.count_recent_alerts.i64(0) : 0;
      s.count_recent_alerts.reset();
      alert_budget = std::max<std::int64_t>(0, stmt::kMaxAlertsPerKeyPerHour - recent);
    }
    if (alert_budget == 0) {
      ++batch.suppressed_alerts;
      return true;
    }
    --alert_budget;
    ++alerts;
    std::string text = detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!s.insert_alert.bind(1, now_ns).bind(2, std::string_view(kind)).bind(3, key).bind(4, report_id).bind(5, text).run())
      return false;
    new_alerts.push_back(NewAlert{kind, key, report_id, now_ns, std::move(text)});
    return true;
  };
  if (rotated) {
    const nlohmann::json detail = {{"old_key", old_hex}, {"new_key", key}, {"time", kb.rotation_time}};
    if (!alert("key_rotated", kb.rotation_report_id, detail)) return std::unexpected(db.error());
  }
  // Contacts remembered per key: at most max_per_key (beyond, a new contact is neither remembered
  // nor alerted on; the key's current contact is still updated).
  std::int64_t contacts = -1;  // counted at the first contact not known to be stored
  auto count_contacts = [&] {
    if (contacts >= 0) return;
    s.count_contacts.bind(1, key);
    contacts = s.count_contacts.step() == kRow ? s.count_contacts.i64(0) : 0;
    s.count_contacts.reset();
  };
  // Forgets the contact rows of an email / identity beyond its newest kMaxKeysPerContact.
  auto trim = [&](Stmt& over, const std::string& value, bool by_email) -> bool {
    if (value.empty()) return true;
    std::vector<std::pair<std::string, std::string>> gone;  // key, the other field
    over.bind(1, value).bind(2, std::int64_t{stmt::kMaxKeysPerContact});
    while (over.step() == kRow) gone.emplace_back(over.text(0), over.text(1));
    over.reset();
    for (const auto& [k, other] : gone) {
      s.delete_contact.bind(1, k).bind(2, by_email ? value : other).bind(3, by_email ? other : value);
      if (!s.delete_contact.run()) return false;
      known.contacts.erase({k, by_email ? value : other, by_email ? other : value});
    }
    return true;
  };
  for (const auto& c : kb.contacts) {
    bool inserted = false;
    const bool stored = trust_known && known.contacts.contains({key, c.email, c.identity});
    if (!stored) count_contacts();
    if (!stored && contacts < config.max_per_key) {
      s.insert_contact.bind(1, key).bind(2, c.email).bind(3, c.identity).bind(4, c.first_ns).bind(5, c.last_ns)
          .bind(6, c.reports);
      if (!s.insert_contact.run()) return std::unexpected(db.error());
      inserted = db.changes() > 0;
      contacts += db.changes();
    }
    if (!inserted && deferred) {
      deferred->contacts.push_back({key, c.email, c.identity, c.last_ns, c.reports});
    } else if (!inserted) {
      if (!s.update_contact.bind(1, key).bind(2, c.email).bind(3, c.identity).bind(4, c.last_ns).bind(5, c.reports).run())
        return std::unexpected(db.error());
    } else {
      // A contact this key never used before.
      if (has_contact && (c.email != email || c.identity != identity)) {
        const nlohmann::json detail = {{"from", {{"email", email}, {"identity", identity}}},
                                       {"to", {{"email", c.email}, {"identity", c.identity}}}};
        if (!alert("contact_changed", c.first_report_id, detail)) return std::unexpected(db.error());
      }
      nlohmann::json previous = nlohmann::json::array();
      std::vector<std::string> matched;
      // The first 8 distinct other keys, oldest first, walked in index order (no sort).
      auto others = [&](Stmt& q, const std::string& value, const char* field) {
        if (value.empty()) return;
        q.bind(1, value).bind(2, key);
        std::vector<std::string> seen;
        while (seen.size() < 8 && q.step() == kRow) {
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
        return std::unexpected(db.error());
      if (!matched.empty()) {
        const nlohmann::json detail = {{"email", c.email}, {"identity", c.identity}, {"matched", matched},
                                       {"previous_keys", previous}};
        if (!alert("identity_new_key", c.first_report_id, detail)) return std::unexpected(db.error());
      }
    }
    email = c.email;
    identity = c.identity;
    has_contact = true;
  }
  for (const auto& e : kb.exporters) {
    if (exporters >= config.max_per_key) break;
    if (trust_known && known.exporters.contains({key, e})) continue;
    if (deferred && trust_known) {  // not stored (the known rows say so): the insert adds it
      deferred->exporters.push_back({key, e, kb.first_ns});
      ++exporters;
      continue;
    }
    if (!s.insert_exporter.bind(1, key).bind(2, e).bind(3, kb.first_ns).run()) return std::unexpected(db.error());
    exporters += db.changes();
  }
  for (const auto& p : kb.prefixes) {
    if (prefixes >= config.max_per_key) break;
    if (trust_known && known.prefixes.contains({key, p})) continue;
    if (deferred && trust_known) {
      deferred->prefixes.push_back({key, p, kb.first_ns});
      ++prefixes;
      continue;
    }
    if (!s.insert_prefix.bind(1, key).bind(2, p).bind(3, kb.first_ns).run()) return std::unexpected(db.error());
    prefixes += db.changes();
  }
  if (deferred) {
    deferred->keys.push_back({key, kb.last_ns, kb.reports, exporters, prefixes, email, identity, static_cast<std::int64_t>(alerts)});
    return alerts;
  }
  if (!s.update_key.bind(1, key).bind(2, kb.last_ns).bind(3, kb.reports).bind(4, exporters).bind(5, prefixes)
           .bind(6, email).bind(7, identity).bind(8, static_cast<std::int64_t>(alerts)).run())
    return std::unexpected(db.error());
  return alerts;
}

// Every key of the batch, then the batch's counters: the end of a write() before its COMMIT.
// `known`: the batch's rows as read before (PostgreSQL: a round trip saved per row; SQLite, in
// process, is faster with its per-row statements: measured, store_postgres_bench). `deferred`
// (PostgreSQL): the writes that need no answer are collected there, counters included, for the
// caller to send set-wise; `flush` sends what was collected so far, before the keys that claim a
// predecessor (link_rotation reads the rows of the old key, which may be this batch's), which
// then run statement by statement.
template <class Db>
std::expected<void, std::string> finish(Db& db, KeyStatements<StmtOf<Db>>& s, const StoreConfig& config, Batch& batch,
                                        std::vector<NewAlert>& new_alerts, Known known = {}, Deferred* deferred = nullptr,
                                        const std::function<std::expected<void, std::string>()>& flush = {}) {
  const std::int64_t now = config.clock->wall_ns();
  new_alerts.clear();
  // Keys that claim a predecessor go last, so an old key first seen in this batch is known by then.
  for (const bool claims : {false, true}) {
    if (claims && deferred && flush &&
        std::any_of(batch.keys.begin(), batch.keys.end(), [](const auto& k) { return k.second.rotated_from.has_value(); }))
      if (auto r = flush(); !r) return std::unexpected(r.error());
    for (const auto& [key, kb] : batch.keys) {
      if (kb.rotated_from.has_value() != claims) continue;
      auto n = flush_key(db, s, config, key_hex(key), kb, now, batch, known, new_alerts, claims ? nullptr : deferred);
      if (!n) return std::unexpected(n.error());
      batch.result.alerts += *n;
    }
  }
  for (const Batch::ReasonRow& r : batch.reasons)
    if (!s.insert_reason.bind(1, r.report_id).bind(2, r.report_class).bind(3, r.rule).run())
      return std::unexpected(db.error());
  batch.count();
  for (const auto& [name, value] : batch.counters) {
    if (value == 0) continue;
    if (deferred) deferred->counters.emplace_back(name, value);
    else if (!s.add_counter.bind(1, name).bind(2, value).run()) return std::unexpected(db.error());
  }
  return {};
}

// Makes the roll-ups again from the reports when they were made for other prefixes or bounds
// (or `always`). `begin` opens the transaction (and takes the store's lock); `add(t, where)` is
// the roll-up's insert in the connection's text.
template <class Db>
std::expected<bool, std::string> rebuild_rollups(Db& db, const StoreConfig& config, std::string_view begin, bool always,
                                                 const std::function<std::string(const rollup::Table&, std::string_view)>& add) {
  const std::string basis = rollup_basis(config);
  auto fail = [&](std::string why) -> std::expected<bool, std::string> {
    (void)db.exec("ROLLBACK");
    return std::unexpected(std::move(why));
  };
  if (auto r = db.exec(begin); !r) return fail(r.error());
  if (!always) {
    auto q = db.prepare("SELECT value FROM rollup_state WHERE name = 'basis'");
    if (!q) return fail(q.error());
    if (q->step() == kRow && q->text(0) == basis) {
      q->reset();
      if (auto r = db.exec("COMMIT"); !r) return fail(r.error());
      return false;
    }
  }
  // Which reports are toward my prefixes, and which of those have a plausible time: as chart_of().
  std::string mine = "FALSE";
  for (std::size_t i = 0; i < config.my_prefixes.size(); ++i)
    mine += " OR daddr_bin BETWEEN ?" + std::to_string(2 * i + 3) + " AND ?" + std::to_string(2 * i + 4);
  auto mark = db.prepare("UPDATE reports SET chart = CASE WHEN time_flag = 0 AND stime BETWEEN received_ns / 1000000 - ?1"
                         " AND received_ns / 1000000 + ?2 THEN 1 ELSE 2 END WHERE " + mine);
  if (!mark) return fail(mark.error());
  mark->bind(1, config.chart_max_past_ms).bind(2, config.chart_max_future_ms);
  for (std::size_t i = 0; i < config.my_prefixes.size(); ++i) {
    const receive::Key16 lo = receive::low(config.my_prefixes[i]), hi = receive::high(config.my_prefixes[i]);
    mark->bind_blob(static_cast<int>(2 * i + 3), lo).bind_blob(static_cast<int>(2 * i + 4), hi);
  }
  std::string sql = "UPDATE reports SET chart = 0 WHERE chart <> 0;";
  for (const rollup::Table& t : rollup::tables()) sql += "DELETE FROM " + std::string(t.name) + ";";
  if (auto r = db.exec(sql); !r) return fail(r.error());
  if (!mark->run()) return fail(db.error());
  for (const rollup::Table& t : rollup::tables())
    if (auto r = db.exec(add(t, "TRUE")); !r) return fail(r.error());
  auto state = db.prepare("INSERT INTO rollup_state(name, value) VALUES('basis', ?1)"
                          " ON CONFLICT (name) DO UPDATE SET value = excluded.value");
  if (!state) return fail(state.error());
  if (!state->bind(1, basis).run()) return fail(db.error());
  if (auto r = db.exec("COMMIT"); !r) return fail(r.error());
  return true;
}

// Deletes the reports `select_ids` picks (?1: a limit, ?2: a parameter) in chunks, each its own
// transaction (opened by `begin`), taking them out of the roll-ups too: they go through the
// temporary table gone, so the roll-ups lose exactly what the reports table loses.
template <class Db>
std::expected<void, std::string> delete_reports(Db& db, std::string_view begin, std::string_view select_ids,
                                                std::int64_t limit, std::int64_t param, std::int64_t& count) {
  constexpr std::int64_t kChunk = 20'000;
  std::vector<StmtOf<Db>> subtract;
  for (const rollup::Table& t : rollup::tables()) {
    for (const std::string& sql : {rollup::subtract(t, "r.id IN (SELECT id FROM temp.gone)"), rollup::remove_empty(t)}) {
      auto st = db.prepare(sql);
      if (!st) return std::unexpected(st.error());
      subtract.push_back(std::move(*st));
    }
  }
  auto pick = db.prepare("INSERT INTO temp.gone(id) " + std::string(select_ids));
  if (!pick) return std::unexpected(pick.error());
  while (limit > 0) {
    const std::int64_t n = std::min(limit, kChunk);
    if (auto r = db.exec(std::string(begin) + "; DELETE FROM temp.gone;"); !r) {
      (void)db.exec("ROLLBACK");
      return std::unexpected(r.error());
    }
    bool ok = pick->bind(1, n).bind(2, param).run();
    const std::int64_t done = ok ? db.changes() : 0;
    for (auto& st : subtract) ok = ok && st.run();
    ok = ok && db.exec("DELETE FROM report_reasons WHERE report_id IN (SELECT id FROM temp.gone);"
                       " DELETE FROM reports WHERE id IN (SELECT id FROM temp.gone); DELETE FROM temp.gone;").has_value();
    if (!ok) {
      const std::string why = db.error();
      (void)db.exec("ROLLBACK");
      return std::unexpected(why);
    }
    if (auto r = db.exec("COMMIT"); !r) return std::unexpected(r.error());
    count += done;
    limit -= done;
    if (done < n) break;
  }
  return {};
}

// Deletes what is older than the retention or beyond the caps (StoreConfig), in chunks, each its
// own transaction opened by `begin`; counted (retention.*). `trimmed_invalid`: refused inputs
// already deleted beyond their cap as they were stored, reported here too.
template <class Db>
std::expected<RetentionResult, std::string> enforce_retention(Db& db, const StoreConfig& config, std::string_view begin,
                                                              std::int64_t now_ns, std::int64_t& trimmed_invalid) {
  RetentionResult out;
  constexpr std::int64_t kChunk = 20'000;
  // Deletes `sql` (which takes ?1 = a limit, ?2 = a parameter) in chunks, each its own transaction,
  // so the writer never holds the database for long.
  auto chunked = [&](const char* sql, std::int64_t limit, std::int64_t param, std::int64_t& count) -> std::expected<void, std::string> {
    if (limit <= 0) return {};
    auto st = db.prepare(sql);
    if (!st) return std::unexpected(st.error());
    while (limit > 0) {
      const std::int64_t n = std::min(limit, kChunk);
      if (auto r = db.exec(begin); !r) {
        (void)db.exec("ROLLBACK");
        return std::unexpected(r.error());
      }
      if (!st->bind(1, n).bind(2, param).run()) {
        const std::string why = db.error();
        (void)db.exec("ROLLBACK");
        return std::unexpected(why);
      }
      const std::int64_t done = db.changes();
      if (auto r = db.exec("COMMIT"); !r) return std::unexpected(r.error());
      count += done;
      limit -= done;
      if (done < n) break;
    }
    return {};
  };
  constexpr std::int64_t kAll = INT64_MAX;
  if (config.retention_s > 0) {
    const std::int64_t cutoff = now_ns - config.retention_s * 1'000'000'000;
    if (auto r = delete_reports(db, begin, "SELECT id FROM reports WHERE received_ns < ?2 LIMIT ?1", kAll, cutoff, out.reports); !r)
      return std::unexpected(r.error());
    for (auto [sql, count] : {std::pair{"DELETE FROM invalid WHERE id IN (SELECT id FROM invalid WHERE received_ns < ?2 LIMIT ?1)", &out.invalid},
                              std::pair{"DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE created_ns < ?2 LIMIT ?1)", &out.alerts},
                              std::pair{"DELETE FROM keys WHERE key IN (SELECT key FROM keys WHERE last_seen_ns < ?2 LIMIT ?1)", &out.keys}}) {
      if (auto r = chunked(sql, kAll, cutoff, *count); !r) return std::unexpected(r.error());
    }
  }
  auto over = [&](const char* table, std::int64_t max) -> std::int64_t {
    if (max <= 0) return 0;
    const auto n = db.scalar(std::string("SELECT COUNT(*) FROM ") + table);
    return n && *n > max ? *n - max : 0;
  };
  // Beyond the caps: the oldest go.
  struct Cap {
    const char* table;
    const char* sql;
    std::int64_t max;
    std::int64_t* count;
  };
  if (auto r = delete_reports(db, begin, "SELECT id FROM reports ORDER BY id LIMIT ?1", over("reports", config.max_reports), 0, out.reports); !r)
    return std::unexpected(r.error());
  for (const Cap& cap : {Cap{"invalid", "DELETE FROM invalid WHERE id IN (SELECT id FROM invalid ORDER BY id LIMIT ?1)",
                             config.max_invalid, &out.invalid},
                         Cap{"alerts", "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts ORDER BY id LIMIT ?1)",
                             config.max_alerts, &out.alerts},
                         Cap{"keys", "DELETE FROM keys WHERE key IN (SELECT key FROM keys ORDER BY last_seen_ns LIMIT ?1)",
                             config.max_keys, &out.keys}}) {
    if (auto r = chunked(cap.sql, over(cap.table, cap.max), 0, *cap.count); !r) return std::unexpected(r.error());
  }
  if (out.keys > 0) {
    // The continuity rows of keys that are gone.
    if (auto r = db.exec(std::string(begin) + ";"
                         "DELETE FROM key_contacts WHERE key NOT IN (SELECT key FROM keys);"
                         "DELETE FROM key_exporters WHERE key NOT IN (SELECT key FROM keys);"
                         "DELETE FROM key_prefixes WHERE key NOT IN (SELECT key FROM keys);"
                         "COMMIT;");
        !r) {
      (void)db.exec("ROLLBACK");
      return std::unexpected(r.error());
    }
  }
  // The alert counts on the key rows follow the alerts deleted.
  if (out.alerts > 0)
    (void)db.exec("UPDATE keys SET alerts = (SELECT COUNT(*) FROM alerts a WHERE a.key = keys.key) WHERE alerts > 0");
  if (auto add = db.prepare(add_counter))
    for (const auto& [name, n] : {std::pair{"retention.reports", out.reports}, std::pair{"retention.invalid", out.invalid},
                                  std::pair{"retention.alerts", out.alerts}, std::pair{"retention.keys", out.keys}})
      if (n > 0) (void)add->bind(1, std::string_view(name)).bind(2, n).run();
  out.invalid += std::exchange(trimmed_invalid, 0);
  return out;
}

// My own exports' flows, stored, then bounded like the window (flows that ended more than
// window_ms before the newest go, then the oldest beyond max_flows). Returns the flows newly stored.
template <class Db>
std::expected<std::int64_t, std::string> save_own_flows(Db& db, std::string_view begin, std::span<const receive::OwnFlow> flows,
                                                        std::int64_t window_ms, std::int64_t max_flows) {
  if (flows.empty()) return 0;
  auto ins = db.prepare("INSERT OR IGNORE INTO own_flows(hash, etime_ms) VALUES(?1, ?2)");
  auto old = db.prepare(stmt::own_flows_older);
  auto oldest = db.prepare(stmt::own_flows_oldest);
  if (!ins || !old || !oldest) return std::unexpected(db.error());
  if (auto r = db.exec(begin); !r) return std::unexpected(r.error());
  auto fail = [&]() -> std::expected<std::int64_t, std::string> {
    const std::string why = db.error();
    (void)db.exec("ROLLBACK");
    return std::unexpected(why);
  };
  std::int64_t added = 0;
  for (const receive::OwnFlow& f : flows) {
    if (!ins->bind(1, static_cast<std::int64_t>(f.hash)).bind(2, f.etime_ms).run()) return fail();
    added += db.changes();
  }
  const auto newest = db.scalar("SELECT MAX(etime_ms) FROM own_flows");
  if (newest && window_ms > 0 && !old->bind(1, *newest - window_ms).run()) return fail();
  // Counted here, not kept across calls: another receiver may share the table.
  const std::int64_t count = db.scalar("SELECT COUNT(*) FROM own_flows").value_or(0);
  if (max_flows > 0 && count > max_flows && !oldest->bind(1, count - max_flows).run()) return fail();
  if (auto r = db.exec("COMMIT"); !r) return fail();
  return added;
}

template <class Db>
std::expected<std::int64_t, std::string> load_own_flows(Db& db, const std::function<void(const receive::OwnFlow&)>& take) {
  auto q = db.prepare("SELECT hash, etime_ms FROM own_flows ORDER BY etime_ms");
  if (!q) return std::unexpected(q.error());
  std::int64_t n = 0;
  int rc;
  while ((rc = q->step()) == kRow) {
    take(receive::OwnFlow{static_cast<std::uint64_t>(q->i64(0)), q->i64(1)});
    ++n;
  }
  if (rc != kDone) return std::unexpected(db.error());
  return n;
}

// Judges again the stored suspects received since `since_ns` (newest first, at most `limit`):
// those `judge` now calls seen are stored as seen (only rows still suspect: another receiver may
// have cleared them meanwhile), spoof.suspect lowered and spoof.cleared raised by as many.
template <class Db>
std::expected<std::int64_t, std::string> rejudge_suspects(Db& db, std::string_view begin,
                                                          const std::function<SpoofStatus(const ReportFields&)>& judge,
                                                          std::int64_t since_ns, std::int64_t limit) {
  std::vector<std::int64_t> cleared;
  {
    auto q = db.prepare(stmt::stored_suspects);
    if (!q) return std::unexpected(q.error());
    static_assert(static_cast<int>(SpoofStatus::suspect) == 1, "stmt::stored_suspects names the suspect verdict as 1");
    q->bind(1, since_ns).bind(2, limit);
    int rc;
    while ((rc = q->step()) == kRow) {
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
    if (rc != kDone) return std::unexpected(db.error());
  }
  if (cleared.empty()) return 0;
  auto up = db.prepare("UPDATE reports SET spoof = ?2 WHERE id = ?1 AND spoof = ?3");
  auto add = db.prepare(add_counter);
  if (!up || !add) return std::unexpected(db.error());
  if (auto r = db.exec(begin); !r) return std::unexpected(r.error());
  auto fail = [&]() -> std::expected<std::int64_t, std::string> {
    const std::string why = db.error();
    (void)db.exec("ROLLBACK");
    return std::unexpected(why);
  };
  std::int64_t n = 0;
  for (const std::int64_t id : cleared) {
    if (!up->bind(1, id).bind(2, std::int64_t{static_cast<std::int8_t>(SpoofStatus::seen)})
             .bind(3, std::int64_t{static_cast<std::int8_t>(SpoofStatus::suspect)}).run())
      return fail();
    n += db.changes();
  }
  if (n > 0 && (!add->bind(1, std::string_view("spoof.suspect")).bind(2, -n).run() ||
                !add->bind(1, std::string_view("spoof.cleared")).bind(2, n).run()))
    return fail();
  if (auto r = db.exec("COMMIT"); !r) return fail();
  return n;
}

}  // namespace overflowd::store::writer_impl
