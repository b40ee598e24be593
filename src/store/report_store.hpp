// What the receiver asks of a store, whatever the database behind it: the writer's side (batches
// of items, one transaction each; retention) and the API's side (the queries, queries.hpp). SQLite
// implements both (store.hpp, queries.hpp); another database (PostgreSQL, for receivers that share
// one) implements the same two interfaces with the same schema and the same answers.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "receive/item.hpp"
#include "receive/prefix.hpp"
#include "receive/spoof_window.hpp"

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

// Refused inputs beyond StoreConfig::invalid_per_s: one in kInvalidSampling is stored, its raw
// bytes cut to kInvalidSampledBytes.
inline constexpr std::int64_t kInvalidSampling = 100;
inline constexpr std::size_t kInvalidSampledBytes = 256;

// The refused inputs' rate (stored whole per second), kept by a store across batches.
struct InvalidRate {
  std::int64_t second = 0, in_second = 0;
};

struct StoreConfig {
  std::string path;
  std::int64_t retention_s = 30 * 86'400;  // reports, invalid inputs and alerts older than this go; 0: no age limit
  std::int64_t max_reports = 1'000'000;    // 0: no count limit
  std::int64_t max_invalid = 10'000;       // enforced as each batch is stored (the oldest go)
  // Refused inputs stored whole per second; beyond, one in kInvalidSampling is stored, its raw
  // bytes cut to kInvalidSampledBytes (every one is still counted by reason). 0: no limit.
  std::int64_t invalid_per_s = 100;
  std::int64_t max_db_mib = 0;             // the database's live pages; 0: no bound
  std::int64_t max_alerts = 100'000;
  std::int64_t max_keys = 1'000'000;
  std::int64_t max_per_key = 10'000;  // distinct exporters / prefixes / contacts remembered per key
  // The summaries' roll-ups (rollups.hpp) count reports toward these prefixes whose flow start
  // time lies within [received - past, received + future] (and whose report time was not flagged).
  // The past bound is wide: captures replayed years later are real flows; a clock at 1970 (or an
  // unset RTC's 2000) is not.
  std::vector<receive::Cidr> my_prefixes;
  std::int64_t chart_max_past_ms = 3650LL * 86'400'000;
  std::int64_t chart_max_future_ms = 86'400'000;
  bool durable = true;                // synchronous=FULL: a committed batch survives a crash
  const core::Clock* clock = &core::system_clock();  // the time alerts are created at
};

// An alert the batch stored (the alerts table's row), for whoever tells the operator.
struct NewAlert {
  std::string kind;  // contact_changed, identity_new_key
  std::string key;   // hex
  std::int64_t report_id = 0;
  std::int64_t created_ns = 0;
  std::string detail;  // JSON, as stored
};

struct BatchResult {
  std::vector<Outcome> outcomes;  // one per item, in order
  std::size_t stored = 0;
  std::size_t duplicates = 0;
  std::size_t rejected = 0;
  std::size_t alerts = 0;
  std::vector<NewAlert> new_alerts;  // the alerts counted in `alerts`
};

struct RetentionResult {
  std::int64_t reports = 0, invalid = 0, alerts = 0, keys = 0;
};

// The writing side: called by one thread at a time (the writer's, writer.hpp).
class ReportStore {
public:
  virtual ~ReportStore() = default;
  // Stores a batch in one transaction. `counters` are extra counts to add (drops counted before
  // the writer, for instance). On error nothing of the batch is kept.
  [[nodiscard]] virtual std::expected<BatchResult, std::string> write(
      std::span<const Item> items, const std::map<std::string, std::int64_t>& counters) = 0;
  // Deletes what is older than the retention or beyond the caps (StoreConfig).
  [[nodiscard]] virtual std::expected<RetentionResult, std::string> enforce_retention(std::int64_t now_ns) = 0;
  // Deletes the oldest refused inputs, then the oldest reports, while the database is over its size
  // bound, and gives the freed pages back to the file system. Called after each batch.
  [[nodiscard]] virtual std::expected<std::int64_t, std::string> enforce_size() { return 0; }
  // My own exports' flows, persisted, and the stored suspects judged again (store.hpp, SqliteStore);
  // by default (a store for tests) nothing is kept.
  [[nodiscard]] virtual std::expected<std::int64_t, std::string> save_own_flows(std::span<const receive::OwnFlow> flows,
                                                                                std::int64_t window_ms, std::int64_t max_flows) {
    (void)flows, (void)window_ms, (void)max_flows;
    return 0;
  }
  [[nodiscard]] virtual std::expected<std::int64_t, std::string> load_own_flows(
      const std::function<void(const receive::OwnFlow&)>& take) {
    (void)take;
    return 0;
  }
  [[nodiscard]] virtual std::expected<std::int64_t, std::string> rejudge_suspects(
      const std::function<SpoofStatus(const ReportFields&)>& judge, std::int64_t since_ns, std::int64_t limit) {
    (void)judge, (void)since_ns, (void)limit;
    return 0;
  }
};

}  // namespace overflowd::store
