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
//  sum_*         the summaries' roll-ups (rollups.hpp), kept by write() and enforce_retention()
//  own_flows     my own exports' flows (tuple hash, end time): the spoof window, restored at start
//
// The schema is versioned with PRAGMA user_version; open() applies the migrations a database
// lacks, in order, each in its own transaction. Writes come in batches, one transaction each.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "receive/item.hpp"
#include "receive/spoof_window.hpp"
#include "store/report_store.hpp"
#include "store/sqlite.hpp"

namespace overflowd::store {

// The schema's history as data (store.cpp, kMigrations): each step brings a database from version
// `version - 1` to `version`, in one transaction. The PostgreSQL store walks the same steps,
// translated (sql_dialect.hpp); a step that cannot be translated has its PostgreSQL text in
// pg_store.cpp (kPostgresSteps). Never edit a released step: add the next.
struct Migration {
  int version;
  std::string_view what;
  std::string_view sql;
};
[[nodiscard]] std::span<const Migration> migrations() noexcept;


// The SQLite implementation of ReportStore (report_store.hpp).
class SqliteStore final : public ReportStore {
public:
  static constexpr int kSchemaVersion = 13;
  // The page size of a database this creates. Each report row is ~1 KiB and a batch of reports
  // dirties a page of each index per few reports: 32 KiB pages write several times fewer WAL frames
  // (two syscalls each) and checkpoint copies per batch than SQLite's default 4 KiB.
  static constexpr int kPageSize = 32768;

  [[nodiscard]] static std::expected<std::unique_ptr<SqliteStore>, std::string> open(const StoreConfig& config);
  // Brings a database to schema version `target` (at most kSchemaVersion). A database newer
  // than this build is refused. For open() and for tests that build older databases.
  [[nodiscard]] static std::expected<void, std::string> migrate(sql::Db& db, int target);
  [[nodiscard]] static std::expected<int, std::string> schema_version(sql::Db& db);

  // Stores a batch in one transaction. `counters` are extra counts to add (drops counted before
  // the writer, for instance). On error nothing of the batch is kept.
  [[nodiscard]] std::expected<BatchResult, std::string> write(
      std::span<const Item> items, const std::map<std::string, std::int64_t>& counters = {}) override;
  [[nodiscard]] std::expected<RetentionResult, std::string> enforce_retention(std::int64_t now_ns) override;
  [[nodiscard]] std::expected<std::int64_t, std::string> enforce_size() override;
  // Bytes of the database's pages in use (page count less free pages).
  [[nodiscard]] std::int64_t live_bytes();

  static constexpr std::int64_t kInvalidSampling = store::kInvalidSampling;
  static constexpr std::size_t kInvalidSampledBytes = store::kInvalidSampledBytes;

  // My own exports' flows (receive/spoof_window.hpp), persisted so that a restart keeps what my
  // exporters saw: stored, then bounded like the window (flows that ended more than window_ms
  // before the newest go, then the oldest beyond max_flows). Returns the flows newly stored.
  [[nodiscard]] std::expected<std::int64_t, std::string> save_own_flows(std::span<const receive::OwnFlow> flows,
                                                                        std::int64_t window_ms, std::int64_t max_flows) override;
  // Hands every persisted flow to `take`, oldest first (at start, to refill the window).
  [[nodiscard]] std::expected<std::int64_t, std::string> load_own_flows(const std::function<void(const receive::OwnFlow&)>& take) override;
  // Judges again the stored suspects received since `since_ns` (newest first, at most `limit`):
  // those `judge` now calls seen (my exports arrived after the report) are stored as seen, and
  // the counter spoof.suspect is lowered by as many (spoof.cleared raised). Returns how many.
  [[nodiscard]] std::expected<std::int64_t, std::string> rejudge_suspects(
      const std::function<SpoofStatus(const ReportFields&)>& judge, std::int64_t since_ns, std::int64_t limit) override;

  // Makes the summaries' roll-ups (rollups.hpp) again from the reports when they were made for
  // other prefixes or plausibility bounds (or `always`); true when it did. open() calls it.
  [[nodiscard]] std::expected<bool, std::string> rebuild_rollups(bool always);

  [[nodiscard]] sql::Db& db() noexcept { return db_; }
  [[nodiscard]] const StoreConfig& config() const noexcept { return config_; }

private:
  SqliteStore(sql::Db db, StoreConfig config) : db_(std::move(db)), config_(std::move(config)) {}
  [[nodiscard]] std::expected<void, std::string> prepare_statements();

  sql::Db db_;
  StoreConfig config_;
  struct Statements;
  std::shared_ptr<Statements> st_;
  std::vector<NewAlert> new_alerts_;  // of the batch being written
  InvalidRate invalid_rate_;
  std::int64_t invalid_trimmed_ = 0;  // refused inputs deleted beyond the cap since the last retention pass
};

// Recomputes a stored report's signature check (the raw message and signature as kept).
[[nodiscard]] bool reverify(const std::string& key_hex, std::string_view signature, std::string_view message);

}  // namespace overflowd::store
