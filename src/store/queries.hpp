// What the JSON API answers, read from the database through a connection of its own (WAL lets it
// read while the writer writes). Every list is bounded: limits are capped at kMaxLimit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "receive/prefix.hpp"
#include "receive/spoof_window.hpp"
#include "store/sqlite.hpp"
#include "store/report_store.hpp"

namespace overflowd::store {

using receive::Cidr;
using receive::FlowTuple;

inline constexpr std::int64_t kMaxLimit = 1000;

// What narrows a view: the page's filters, the same for the reports and the summary.
struct Narrowing {
  std::string key;                  // 64 hex digits
  std::optional<Cidr> saddr, daddr;
  std::string report_class;            // metadata.class (SUSPICIOUS, INFORMATIONAL); empty: any
  std::string reason;                  // a reason's class (column reasons) or rule name (in the message); empty: any
  [[nodiscard]] bool any() const { return !key.empty() || saddr || daddr || !report_class.empty() || !reason.empty(); }
};

struct ReportFilter : Narrowing {
  std::optional<double> since, until;  // receive time, Unix seconds
  std::optional<std::int64_t> before;  // id: for paging, rows older than this one
  std::int64_t limit = 100;
  bool raw = false;  // include the signed message and signature (the compact form)
};

// /api/paths (issue 19): one flow's reports from different keys, lined up into its path. A path is
// found from its coherent reports (metadata.coherent) under at least min_keys keys, for one 5-tuple
// and one start-time bucket (the senders' coherent bucket, 60 s by default); its hops are then
// every report of that flow in that bucket, ordered by next hop when each hop's next hop is the
// next one's exporter, else by flow start time (then receive time).
struct PathQuery {
  std::optional<double> since, until;  // receive time, Unix seconds
  std::int64_t bucket_s = 60;
  std::int64_t min_keys = 2;
  std::int64_t limit = 100;            // paths, newest first
};

// Answered from the roll-ups (rollups.hpp): reports toward my prefixes with plausible times, by
// flow start time; those with implausible times are counted and listed apart ("flagged").
// Narrowed (`filter.any()`), the same answer is computed from the reports that match, through the
// filter's index (key, saddr, daddr, class) at the one resolution the range needs, under the read
// connections' time limit: the roll-ups hold no victim address, class or reason.
struct SummaryQuery {
  std::vector<Cidr> my_prefixes;
  Narrowing filter;
  // The answer's "version" the page holds: when the answer would be the same (no report added or
  // removed, the same periods), {"unchanged": true, "version"} is answered without reading the sums.
  std::string unless;
  std::optional<double> since, until;  // flow start time, Unix seconds (default: all that is rolled up)
  std::int64_t bucket_s = 0;           // 0: chosen to give at most ~120 buckets
  std::int64_t top = 20;
  std::int64_t per_network = 20;       // reporters given their own series (reports and packets per bucket)
  // The key view: only this key's series (reports and packets per bucket, every contact it signed,
  // from sum_key) is answered, as "key_series", with the range, bucket and version.
  std::string series_key;
};

struct SpoofQuery {
  std::vector<Cidr> my_prefixes;
  std::optional<double> since, until;  // receive time, Unix seconds: every report in the range counts
  std::int64_t limit = 1000;           // suspects listed (newest first), at most kMaxLimit
};
// Reports from my prefixes whose stored verdict is not `seen` are judged again one by one, up to
// this many per request (newest verdicts first); beyond, they count as stored.
inline constexpr std::int64_t kMaxRejudged = 200'000;

// Re-judges a stored verdict against my own exports as they are now (they may arrive after a
// report); returns the stored verdict when it cannot judge.
using SpoofRecheck = std::function<SpoofStatus(const FlowTuple&, std::int64_t stime_ms, std::int64_t etime_ms, SpoofStatus stored)>;

// The API's side of a store: every answer as JSON. Called from any thread.
class ReportQueries {
public:
  virtual ~ReportQueries() = default;
  [[nodiscard]] virtual nlohmann::json reports(const ReportFilter& f) = 0;
  [[nodiscard]] virtual nlohmann::json keys(const std::string& key, std::int64_t limit) = 0;
  [[nodiscard]] virtual nlohmann::json alerts(const std::string& key, std::int64_t limit) = 0;
  [[nodiscard]] virtual nlohmann::json invalid(std::int64_t limit) = 0;
  [[nodiscard]] virtual nlohmann::json counters() = 0;
  [[nodiscard]] virtual nlohmann::json summary(const SummaryQuery& q) = 0;
  [[nodiscard]] virtual nlohmann::json spoofing(const SpoofQuery& q, const SpoofRecheck& recheck) = 0;
  [[nodiscard]] virtual nlohmann::json paths(const PathQuery& q) = 0;
};

// The SQLite implementation: read connections of its own (WAL lets them read while the writer writes).
class SqliteQueries final : public ReportQueries {
public:
  // `connections` read connections of their own (WAL readers: requests read side by side, and a
  // slow one holds only its own); each query is interrupted past `time_limit` (an error answer).
  [[nodiscard]] static std::expected<std::unique_ptr<SqliteQueries>, std::string> open(
      const std::string& path, std::size_t connections = 4, std::chrono::milliseconds time_limit = std::chrono::seconds(2));

  [[nodiscard]] nlohmann::json reports(const ReportFilter& f) override;
  [[nodiscard]] nlohmann::json keys(const std::string& key, std::int64_t limit) override;
  [[nodiscard]] nlohmann::json alerts(const std::string& key, std::int64_t limit) override;
  [[nodiscard]] nlohmann::json invalid(std::int64_t limit) override;
  [[nodiscard]] nlohmann::json counters() override;
  [[nodiscard]] nlohmann::json summary(const SummaryQuery& q) override;
  [[nodiscard]] nlohmann::json spoofing(const SpoofQuery& q, const SpoofRecheck& recheck) override;
  [[nodiscard]] nlohmann::json paths(const PathQuery& q) override;

private:
  struct Connection {
    explicit Connection(sql::Db d) : db(std::move(d)) {}
    sql::Db db;
    std::chrono::steady_clock::time_point deadline{};
    bool timed_out = false;
  };
  explicit SqliteQueries(std::chrono::milliseconds time_limit) : time_limit_(time_limit) {}
  // Runs `query` on a free connection (waiting for one), under the time limit.
  [[nodiscard]] nlohmann::json run(const std::function<nlohmann::json(sql::Db&)>& query);

  std::chrono::milliseconds time_limit_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex mutex_;  // guards free_
  std::condition_variable has_free_;
  std::vector<Connection*> free_;
};

}  // namespace overflowd::store
