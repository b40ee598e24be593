// The writer thread: a commit returns only once its reports are in the database; queueing several
// items at once keeps what fits and counts the rest; a full batch is written without waiting for
// the batch interval; stop() writes everything queued.
#include "store/writer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "receive/receive_test_util.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;

using namespace testing;

std::unique_ptr<SqliteStore> open_store(const TempDb& t) {
  StoreConfig c;
  c.path = t.path();
  c.retention_s = 0;  // the reports carry a fixed time in the past (kNow), which age retention would drop
  auto s = SqliteStore::open(c);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error());
  return s ? std::move(*s) : nullptr;
}

// Counts through a connection of its own, as the API would read.
std::int64_t count_in(const std::string& path, const std::string& sql) {
  auto db = sql::Db::open(path, true);
  if (!db) return -1;
  return db->scalar(sql).value_or(-1);
}

std::vector<Item> reports(std::size_t n, std::uint8_t k = 1) {
  std::vector<Item> out;
  for (std::size_t i = 0; i < n; ++i) {
    FlowSpec spec;
    spec.sport = static_cast<std::uint16_t>(2000 + i);
    out.push_back(item(signed_report(key(k), "noc@example.net", "Net", spec).line));
  }
  return out;
}

TEST(Writer, ACommitReturnsOnlyWhenItsReportsAreInTheDatabase) {
  TempDb t;
  auto store = open_store(t);
  WriterConfig c;
  c.batch_ms = 60'000;  // nothing but the commit itself makes the batch due
  Writer w(*store, c);
  w.start();
  auto outcomes = w.commit(reports(3), std::chrono::seconds(30));
  ASSERT_TRUE(outcomes) << outcomes.error();
  EXPECT_EQ(*outcomes, (std::vector<Outcome>{Outcome::stored, Outcome::stored, Outcome::stored}));
  EXPECT_EQ(count_in(t.path(), "SELECT COUNT(*) FROM reports"), 3);
  w.stop();
}

// A store whose writes wait until released: a writer stalled on a slow batch.
struct StalledStore final : ReportStore {
  std::mutex m;
  std::condition_variable cv;
  bool released = false;
  std::size_t written = 0;
  std::expected<BatchResult, std::string> write(std::span<const Item> items,
                                                const std::map<std::string, std::int64_t>&) override {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return released; });
    written += items.size();
    BatchResult r;
    r.outcomes.assign(items.size(), Outcome::stored);
    r.stored = items.size();
    return r;
  }
  std::expected<RetentionResult, std::string> enforce_retention(std::int64_t) override { return RetentionResult{}; }
  void release() {
    std::lock_guard lock(m);
    released = true;
    cv.notify_all();
  }
};

TEST(Writer, ACommitTheWriterCannotFinishInTimeFailsAtItsDeadlineAndIsCounted) {
  StalledStore store;
  WriterConfig c;
  c.batch_ms = 60'000;
  Writer w(store, c);
  w.start();
  const auto start = std::chrono::steady_clock::now();
  auto outcomes = w.commit(reports(2), std::chrono::milliseconds(200));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(outcomes);
  EXPECT_NE(outcomes.error().find("timed out"), std::string::npos) << outcomes.error();
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_LT(waited, std::chrono::seconds(10));
  EXPECT_EQ(w.stats().commit_timeouts, 1u);
  // Released, the writer still writes what was queued.
  store.release();
  w.flush();
  EXPECT_EQ(w.stats().stored, 2u);
  w.stop();
}

// A store whose every write and retention pass fails.
struct FailingStore final : ReportStore {
  std::expected<BatchResult, std::string> write(std::span<const Item>, const std::map<std::string, std::int64_t>&) override {
    return std::unexpected(std::string("disk full"));
  }
  std::expected<RetentionResult, std::string> enforce_retention(std::int64_t) override {
    return std::unexpected(std::string("database is locked"));
  }
};

TEST(Writer, ItsWarningsGoToTheSinkItWasGivenNotToStderr) {
  FailingStore store;
  std::mutex m;
  std::vector<std::string> said;
  WriterConfig c;
  c.batch_ms = 60'000;
  c.warn = [&](const std::string& w) {
    std::lock_guard lock(m);
    said.push_back(w);
  };
  ::testing::internal::CaptureStderr();
  {
    Writer w(store, c);
    w.start();
    auto outcomes = w.commit(reports(2), std::chrono::seconds(30));
    ASSERT_FALSE(outcomes);
    EXPECT_NE(outcomes.error().find("disk full"), std::string::npos) << outcomes.error();
    w.stop();
    EXPECT_EQ(w.stats().write_errors, 1u);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  std::lock_guard lock(m);
  // Retention runs once at start, then the batch fails.
  EXPECT_NE(std::find(said.begin(), said.end(), "retention failed: database is locked"), said.end());
  EXPECT_NE(std::find(said.begin(), said.end(), "a batch of 2 reports was not stored: disk full"), said.end());
}

TEST(Writer, OfferAllQueuesWhatFitsAndCountsTheRestAsDropped) {
  TempDb t;
  auto store = open_store(t);
  WriterConfig c;
  c.queue_capacity = 3;
  c.batch_ms = 1;
  Writer w(*store, c);
  auto items = reports(5);
  EXPECT_EQ(w.offer_all(items), 3u);  // not started: nothing leaves the queue
  w.count_dropped(4);
  EXPECT_EQ(w.stats().dropped, 6u);
  w.start();
  w.flush();
  w.stop();
  EXPECT_EQ(count_in(t.path(), "SELECT COUNT(*) FROM reports"), 3);
  EXPECT_EQ(count_in(t.path(), "SELECT value FROM counters WHERE name = 'dropped.queue_full'"), 6);
  EXPECT_EQ(w.stats().stored, 3u);
}

TEST(Writer, AFullBatchIsWrittenWithoutWaitingForTheInterval) {
  TempDb t;
  auto store = open_store(t);
  WriterConfig c;
  c.batch_size = 4;
  c.batch_ms = 3'600'000;  // an hour: flush() returns only if a full batch is written at once
  Writer w(*store, c);
  w.start();
  auto items = reports(8);
  w.put_all(items);
  w.flush();
  EXPECT_EQ(count_in(t.path(), "SELECT COUNT(*) FROM reports"), 8);
  EXPECT_EQ(w.stats().batches, 2u);
  w.stop();
}

TEST(Writer, StopWritesEverythingQueued) {
  TempDb t;
  auto store = open_store(t);
  WriterConfig c;
  c.batch_ms = 3'600'000;
  Writer w(*store, c);
  w.start();
  for (auto& i : reports(5, 2)) EXPECT_TRUE(w.offer(std::move(i)));
  w.stop();
  EXPECT_EQ(count_in(t.path(), "SELECT COUNT(*) FROM reports"), 5);
  auto late = reports(1, 3);
  EXPECT_EQ(w.offer_all(late), 0u);
  EXPECT_EQ(w.stats().dropped, 1u);
}

}  // namespace
}  // namespace overflowd::receive
