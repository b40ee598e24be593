// The API over PostgreSQL: the queries (queries_impl.hpp, shared with SQLite; their SQLite text is
// translated as pg::Db prepares it) on a pool of connections of their own, each request cancelled
// past the time limit (pg::Db::set_deadline: each statement's statement_timeout is the time the
// request has left; the same timed-out answer, so the same 503, as SQLite's), and a lost
// connection made again.
#include "store/pg_store.hpp"

#include <algorithm>

#include "store/queries_impl.hpp"

namespace overflowd::store {

static_assert(pg::kRow == queries_impl::kRow);

using nlohmann::json;

namespace {
constexpr std::string_view kSessionSettings = "SET default_transaction_read_only = on";
}  // namespace

std::expected<std::unique_ptr<PgQueries>, std::string> PgQueries::open(const std::string& url, std::size_t connections,
                                                                       std::chrono::milliseconds time_limit) {
  auto q = std::unique_ptr<PgQueries>(new PgQueries(time_limit));
  for (std::size_t i = 0; i < std::max<std::size_t>(connections, 1); ++i) {
    auto db = pg::Db::open(url, 2);
    if (!db) return std::unexpected(redact_url(url) + ": " + db.error());
    auto c = std::make_unique<pg::Db>(std::move(*db));
    if (auto r = c->exec_native(std::string(kSessionSettings) + "; SET statement_timeout = " + std::to_string(time_limit.count()));
        !r)
      return std::unexpected(r.error());
    q->free_.push_back(c.get());
    q->connections_.push_back(std::move(c));
  }
  return q;
}

json PgQueries::run(const std::function<json(pg::Db&)>& query) {
  pg::Db* c = nullptr;
  {
    std::unique_lock lock(mutex_);
    has_free_.wait(lock, [&] { return !free_.empty(); });
    c = free_.back();
    free_.pop_back();
  }
  json out;
  // A connection lost (the database restarted) is made again for this request.
  if (!c->ok() && (!c->reconnect() ||
                   !c->exec_native(std::string(kSessionSettings) + "; SET statement_timeout = " + std::to_string(time_limit_.count())))) {
    out = {{"error", "the database is unreachable: " + c->error()}, {"unavailable", true}};
  } else {
    // A connection that broke since its last use (the database restarted) is found out by its
    // first query: made again, and the query asked once more.
    for (int attempt = 0; attempt < 2; ++attempt) {
      (void)c->take_timed_out();
      // The time limit is the request's (as SQLite's progress handler): each statement gets what is left.
      c->set_deadline(std::chrono::steady_clock::now() + time_limit_);
      try {
        out = query(*c);
      } catch (...) {
        out = {{"error", "internal error"}};
      }
      c->set_deadline(std::nullopt);
      if (c->ok() || attempt == 1 || !c->reconnect() ||
          !c->exec_native(std::string(kSessionSettings) + "; SET statement_timeout = " + std::to_string(time_limit_.count())))
        break;
    }
    if (c->take_timed_out())
      out = queries_impl::timed_out_answer(time_limit_);
    else if (!c->ok())
      out = {{"error", "the database connection was lost: " + c->error()}, {"unavailable", true}};
  }
  {
    std::lock_guard lock(mutex_);
    free_.push_back(c);
  }
  has_free_.notify_one();
  return out;
}

json PgQueries::reports(const ReportFilter& f) {
  return run([&](pg::Db& db) { return queries_impl::reports(db, f); });
}
json PgQueries::keys(const std::string& key, std::int64_t limit) {
  return run([&](pg::Db& db) { return queries_impl::keys(db, key, limit); });
}
json PgQueries::alerts(const std::string& key, std::int64_t limit) {
  return run([&](pg::Db& db) { return queries_impl::alerts(db, key, limit); });
}
json PgQueries::invalid(std::int64_t limit) {
  return run([&](pg::Db& db) { return queries_impl::invalid(db, limit); });
}
json PgQueries::counters() {
  return run([&](pg::Db& db) { return queries_impl::counters(db); });
}
json PgQueries::summary(const SummaryQuery& sq) {
  return run([&](pg::Db& db) { return queries_impl::summary(db, sq); });
}
json PgQueries::spoofing(const SpoofQuery& sq, const SpoofRecheck& recheck) {
  return run([&](pg::Db& db) { return queries_impl::spoofing(db, sq, recheck); });
}

json PgQueries::paths(const PathQuery& pq) {
  return run([&](pg::Db& db) { return queries_impl::paths(db, pq); });
}

}  // namespace overflowd::store
