// The PostgreSQL store: ReportStore and ReportQueries over one PostgreSQL database that several
// receivers share (`overflowd receive --db postgresql://...`). Same schema and migrations as the
// SQLite store (store.cpp's kMigrations, translated by sql_dialect.hpp), the same statements
// (statements.hpp) and the same answers.
//
//  schema       a schema_version table (one row); open() applies the missing steps under a session
//               advisory lock, so receivers starting together migrate once, in order.
//  duplicates   reports.digest is UNIQUE: a replay is a duplicate whichever receiver stored it first
//               (INSERT ... ON CONFLICT DO NOTHING; the row's duplicates count is raised).
//  batches      one transaction each, READ COMMITTED, after transaction advisory locks on every key,
//               email and identity of the batch (taken in one sorted order): two receivers that see
//               the same key (or contact) store its continuity and alerts one after the other,
//               each seeing the other's committed rows, as one SQLite writer would; batches about
//               other keys run side by side. Deadlocks and serialization failures are retried.
//               Two round trips a batch (libpq's pipeline mode): BEGIN, locks, the reports' one
//               INSERT over arrays and the read of the batch's known key rows; then the key rows,
//               counters and roll-ups written set-wise, and COMMIT (write_once).
//  connection   lost: write() reconnects and retries the batch (backoff up to 1 s) for up to
//               kRetryMs, counting postgres.reconnects / postgres.retries; meanwhile the writer's
//               bounded queue holds UDP reports (full: dropped and counted) and HTTP commits time
//               out (503). A batch is acknowledged only after its COMMIT returned.
//  retention    one receiver at a time (a transaction advisory lock per chunk).
//  not carried  --max-db-mib (SQLite's page accounting): refused at open; PostgreSQL is bounded by
//               count and age (--max-reports, --retention-days) and by the server's own means.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/pg.hpp"
#include "store/queries.hpp"
#include "store/report_store.hpp"
#include "store/writer_impl.hpp"

namespace overflowd::store {

// Whether `db` names a PostgreSQL database (postgresql:// or postgres://) rather than a SQLite file.
[[nodiscard]] bool is_postgres_url(std::string_view db) noexcept;
// The URL without its password (for logs).
[[nodiscard]] std::string redact_url(std::string_view db);

class PgStore final : public ReportStore {
public:
  static constexpr std::int64_t kRetryMs = 60'000;

  [[nodiscard]] static std::expected<std::unique_ptr<PgStore>, std::string> open(const StoreConfig& config);
  [[nodiscard]] static std::expected<int, std::string> schema_version(pg::Db& db);
  // Brings a database to schema version `target` (at most SqliteStore::kSchemaVersion), as
  // SqliteStore::migrate: kMigrations translated, under the schema's advisory lock.
  [[nodiscard]] static std::expected<void, std::string> migrate(pg::Db& db, int target);
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  [[nodiscard]] std::expected<BatchResult, std::string> write(
      std::span<const Item> items, const std::map<std::string, std::int64_t>& counters = {}) override;
  [[nodiscard]] std::expected<RetentionResult, std::string> enforce_retention(std::int64_t now_ns) override;
  [[nodiscard]] std::expected<std::int64_t, std::string> save_own_flows(std::span<const receive::OwnFlow> flows,
                                                                        std::int64_t window_ms, std::int64_t max_flows) override;
  [[nodiscard]] std::expected<std::int64_t, std::string> load_own_flows(
      const std::function<void(const receive::OwnFlow&)>& take) override;
  [[nodiscard]] std::expected<std::int64_t, std::string> rejudge_suspects(
      const std::function<SpoofStatus(const ReportFields&)>& judge, std::int64_t since_ns, std::int64_t limit) override;

  [[nodiscard]] std::uint64_t reconnects() const noexcept { return reconnects_.load(); }
  [[nodiscard]] std::uint64_t retries() const noexcept { return retries_.load(); }
  [[nodiscard]] pg::Db& db() noexcept { return db_; }

private:
  PgStore(pg::Db db, StoreConfig config);
  using KeyStatements = writer_impl::KeyStatements<pg::Stmt>;
  [[nodiscard]] std::expected<void, std::string> prepare_key_statements();
  [[nodiscard]] std::expected<void, std::string> prepare_report_insert();
  [[nodiscard]] std::expected<pg::Stmt*, std::string> cached(std::string_view sql, bool translate = false);
  [[nodiscard]] std::expected<void, std::string> deferred_statements(const writer_impl::Deferred& d,
                                                                     std::vector<pg::Stmt*>& out);
  [[nodiscard]] std::expected<BatchResult, std::string> write_once(std::span<const Item> items,
                                                                   const std::map<std::string, std::int64_t>& extra);
  [[nodiscard]] std::expected<bool, std::string> rebuild_rollups();
  // BEGIN and the retention's transaction lock (one receiver at a time deletes or rebuilds).
  [[nodiscard]] static std::string retention_begin();
  // Runs `attempt` until it succeeds, fails for another reason than the connection (or a
  // deadlock), or kRetryMs have passed; reconnects in between.
  template <class F>
  auto with_retry(F&& attempt) -> decltype(attempt());

  pg::Db db_;
  StoreConfig config_;
  std::vector<NewAlert> new_alerts_;
  std::unique_ptr<KeyStatements> key_statements_;
  std::map<std::string, pg::Stmt, std::less<>> cache_;  // cached(): the batch's statements
  std::string report_insert_;
  std::vector<unsigned> report_types_;  // per column of the reports' insert (writer_impl::report_columns()): its type's Oid
  std::uint64_t key_statements_generation_ = 0;
  InvalidRate invalid_rate_{-1, 0};
  std::int64_t invalid_trimmed_ = 0;
  std::atomic<std::uint64_t> reconnects_{0}, retries_{0};
  std::uint64_t reconnects_counted_ = 0, retries_counted_ = 0;
};

// The API's side over PostgreSQL: a pool of connections of its own, each request under the time
// limit (the time left is each statement's statement_timeout); a lost connection is made again at
// the next request.
class PgQueries final : public ReportQueries {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<PgQueries>, std::string> open(
      const std::string& url, std::size_t connections = 4, std::chrono::milliseconds time_limit = std::chrono::seconds(2));

  [[nodiscard]] nlohmann::json reports(const ReportFilter& f) override;
  [[nodiscard]] nlohmann::json keys(const std::string& key, std::int64_t limit) override;
  [[nodiscard]] nlohmann::json alerts(const std::string& key, std::int64_t limit) override;
  [[nodiscard]] nlohmann::json invalid(std::int64_t limit) override;
  [[nodiscard]] nlohmann::json counters() override;
  [[nodiscard]] nlohmann::json summary(const SummaryQuery& q) override;
  [[nodiscard]] nlohmann::json spoofing(const SpoofQuery& q, const SpoofRecheck& recheck) override;
  [[nodiscard]] nlohmann::json paths(const PathQuery& q) override;

private:
  explicit PgQueries(std::chrono::milliseconds time_limit) : time_limit_(time_limit) {}
  [[nodiscard]] nlohmann::json run(const std::function<nlohmann::json(pg::Db&)>& query);

  std::chrono::milliseconds time_limit_;
  std::vector<std::unique_ptr<pg::Db>> connections_;
  std::mutex mutex_;
  std::condition_variable has_free_;
  std::vector<pg::Db*> free_;
};

}  // namespace overflowd::store
