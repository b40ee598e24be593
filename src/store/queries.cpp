// The API over SQLite: the queries (queries_impl.hpp, shared with PostgreSQL) on a pool of read
// connections, each interrupted past the time limit by SQLite's progress handler.
#include "store/queries.hpp"

#include <algorithm>

#include "store/queries_impl.hpp"

namespace overflowd::store {

using nlohmann::json;

std::expected<std::unique_ptr<SqliteQueries>, std::string> SqliteQueries::open(const std::string& path,
                                                                                 std::size_t connections,
                                                                                 std::chrono::milliseconds time_limit) {
  auto q = std::unique_ptr<SqliteQueries>(new SqliteQueries(time_limit));
  for (std::size_t i = 0; i < std::max<std::size_t>(connections, 1); ++i) {
    auto db = sql::Db::open(path, false);
    if (!db) return std::unexpected(db.error());
    sqlite3_busy_timeout(db->handle(), 5000);
    if (auto r = db->exec("PRAGMA query_only=1"); !r) return std::unexpected(r.error());
    auto c = std::make_unique<Connection>(std::move(*db));
    // Every 1,000 virtual machine steps: past the deadline, the query is interrupted.
    sqlite3_progress_handler(c->db.handle(), 1000, [](void* arg) -> int {
      auto* conn = static_cast<Connection*>(arg);
      if (std::chrono::steady_clock::now() < conn->deadline) return 0;
      conn->timed_out = true;
      return 1;
    }, c.get());
    q->free_.push_back(c.get());
    q->connections_.push_back(std::move(c));
  }
  return q;
}

json SqliteQueries::run(const std::function<json(sql::Db&)>& query) {
  Connection* c = nullptr;
  {
    std::unique_lock lock(mutex_);
    has_free_.wait(lock, [&] { return !free_.empty(); });
    c = free_.back();
    free_.pop_back();
  }
  c->deadline = std::chrono::steady_clock::now() + time_limit_;
  c->timed_out = false;
  json out;
  try {
    out = query(c->db);
  } catch (...) {
    out = {{"error", "internal error"}};
  }
  if (c->timed_out)
    out = queries_impl::timed_out_answer(time_limit_);
  {
    std::lock_guard lock(mutex_);
    free_.push_back(c);
  }
  has_free_.notify_one();
  return out;
}

json SqliteQueries::reports(const ReportFilter& f) {
  return run([&](sql::Db& db) { return queries_impl::reports(db, f); });
}
json SqliteQueries::keys(const std::string& key, std::int64_t limit) {
  return run([&](sql::Db& db) { return queries_impl::keys(db, key, limit); });
}
json SqliteQueries::alerts(const std::string& key, std::int64_t limit) {
  return run([&](sql::Db& db) { return queries_impl::alerts(db, key, limit); });
}
json SqliteQueries::invalid(std::int64_t limit) {
  return run([&](sql::Db& db) { return queries_impl::invalid(db, limit); });
}
json SqliteQueries::counters() {
  return run([&](sql::Db& db) { return queries_impl::counters(db); });
}
json SqliteQueries::summary(const SummaryQuery& sq) {
  return run([&](sql::Db& db) { return queries_impl::summary(db, sq); });
}
json SqliteQueries::spoofing(const SpoofQuery& sq, const SpoofRecheck& recheck) {
  return run([&](sql::Db& db) { return queries_impl::spoofing(db, sq, recheck); });
}

json SqliteQueries::paths(const PathQuery& pq) {
  return run([&](sql::Db& db) { return queries_impl::paths(db, pq); });
}

}  // namespace overflowd::store
