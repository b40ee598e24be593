// The receiver's storage: one SQLite database in WAL mode.
//
//  reports       every verified report once (duplicates counted on the row), with its raw signed
//                message and signature so it can be re-verified later, and the indexed fields
//  invalid       refused inputs, by reason, with their raw bytes (bounded: newest max_invalid)
//  counters      persistent counts: received per input, stored, duplicates, invalid.<reason>, ...
//  keys, key_contacts, key_exporters, key_prefixes
//                key continuity: per key first/last seen, report count, the contacts it used,
//                distinct exporters and reported prefixes (/24, /48)
//  alerts        a key's contact changed; a known identity or email appeared under a new key
//
// The schema is versioned with PRAGMA user_version; open() applies the migrations a database
// lacks, in order, each in its own transaction. Writes come in batches, one transaction each.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "receive/item.hpp"
#include "store/sqlite.hpp"

namespace overflowd::store {

// The store keeps what the receiver's pure stages (src/receive/) make: their vocabulary, by name.
using receive::Accepted;
using receive::Arrival;
using receive::Input;
using receive::Item;
using receive::Outcome;
using receive::Rejected;
using receive::ReportFields;
using receive::SpoofStatus;
using receive::TimeFlag;
using receive::Verdict;
using receive::to_string;

struct StoreConfig {
  std::string path;
  std::int64_t retention_s = 30 * 86'400;  // reports, invalid inputs and alerts older than this go; 0: no age limit
  std::int64_t max_reports = 1'000'000;    // 0: no count limit
  std::int64_t max_invalid = 10'000;
  std::int64_t max_alerts = 100'000;
  std::int64_t max_keys = 1'000'000;
  std::int64_t max_per_key = 10'000;  // distinct exporters / prefixes remembered per key
  bool durable = true;                // synchronous=FULL: a committed batch survives a crash
};

struct BatchResult {
  std::vector<Outcome> outcomes;  // one per item, in order
  std::size_t stored = 0;
  std::size_t duplicates = 0;
  std::size_t rejected = 0;
  std::size_t alerts = 0;
};

struct RetentionResult {
  std::int64_t reports = 0, invalid = 0, alerts = 0, keys = 0;
};

class Store {
public:
  static constexpr int kSchemaVersion = 2;
  // The page size of a database this creates. Each report row is ~1 KiB and a batch of reports
  // dirties a page of each index per few reports: 32 KiB pages write several times fewer WAL frames
  // (two syscalls each) and checkpoint copies per batch than SQLite's default 4 KiB.
  static constexpr int kPageSize = 32768;

  [[nodiscard]] static std::expected<std::unique_ptr<Store>, std::string> open(const StoreConfig& config);
  // Brings a database to schema version `target` (at most kSchemaVersion). A database newer
  // than this build is refused. For open() and for tests that build older databases.
  [[nodiscard]] static std::expected<void, std::string> migrate(sql::Db& db, int target);
  [[nodiscard]] static std::expected<int, std::string> schema_version(sql::Db& db);

  // Stores a batch in one transaction. `counters` are extra counts to add (drops counted before
  // the writer, for instance). On error nothing of the batch is kept.
  [[nodiscard]] std::expected<BatchResult, std::string> write(std::span<const Item> items,
                                                             const std::map<std::string, std::int64_t>& counters = {});
  [[nodiscard]] std::expected<RetentionResult, std::string> enforce_retention(std::int64_t now_ns);

  [[nodiscard]] sql::Db& db() noexcept { return db_; }
  [[nodiscard]] const StoreConfig& config() const noexcept { return config_; }

private:
  Store(sql::Db db, StoreConfig config) : db_(std::move(db)), config_(std::move(config)) {}
  [[nodiscard]] std::expected<void, std::string> prepare_statements();
  struct KeyBatch;
  [[nodiscard]] std::expected<std::size_t, std::string> flush_key(const std::string& key, const KeyBatch& kb,
                                                                  std::int64_t now_ns);

  sql::Db db_;
  StoreConfig config_;
  struct Statements;
  std::shared_ptr<Statements> st_;
};

// Recomputes a stored report's signature check (the raw message and signature as kept).
[[nodiscard]] bool reverify(const std::string& key_hex, std::string_view signature, std::string_view message);

}  // namespace overflowd::store
