// The one thread that writes the database. Inputs hand it items (verified or refused reports)
// through a bounded queue; it commits them in batches, one transaction per batch, when the batch
// holds batch_size items, when batch_ms has passed since its first item, or at once when someone
// waits for a commit (an HTTP request is answered only after its reports are committed: group
// commit). So a report taken over UDP or from a capture is lost by a crash only while it waits in
// the queue or the open batch (or, before that, in the verifying threads' queue, verifier.hpp):
// at most one batch interval (batch_ms) of reports once verified. The thread wakes
// for the first item of a batch, a full batch, a commit waiter or the end of the interval, not for
// every item queued.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <span>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "store/store.hpp"

namespace overflowd::store {

struct WriterConfig {
  std::size_t batch_size = 1000;
  std::int64_t batch_ms = 200;
  std::size_t queue_capacity = 100'000;      // items
  std::size_t queue_bytes = 256u << 20;      // and bytes (item_bytes): a report may hold 64 KiB
  std::int64_t retention_interval_s = 60;
  const core::Clock* clock = &core::system_clock();  // retention's "now"
  // Where the writer's warnings go (a batch not stored, retention failed): the app's log. The
  // store library prints nothing itself; empty: nothing is said (a failed batch still counts in
  // write_errors).
  std::function<void(const std::string&)> warn;
  std::function<void(std::int64_t ns)> on_commit;   // each batch's write time (metrics); may be empty
  // Called on the writer thread about once a second, and once more as it ends (the receiver
  // persists its own exports' flows and re-judges stored suspects here: the store has one writer).
  std::function<void()> tick;
};

// What an item holds in the queue: its strings and the item itself. With reports of up to 64 KiB
// (and their contact fields copied out of them), 100,000 items could hold 12 GiB; queue_bytes
// bounds that.
[[nodiscard]] std::size_t item_bytes(const Item& item) noexcept;

struct WriterStats {
  std::uint64_t batches = 0;
  std::uint64_t stored = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t rejected = 0;
  std::uint64_t dropped = 0;  // queue full
  std::uint64_t write_errors = 0;
  std::uint64_t commit_timeouts = 0;  // commit() calls whose reports were not committed by the deadline
  std::size_t queued = 0;
  std::uint64_t thread_cpu_ns = 0;  // CPU time of the writer thread, as of its last batch
};

// Says whether a verified report's flow comes from my prefixes and, if so, whether my own
// exports saw it. Called on the writer thread.
using SpoofClassifier = std::function<SpoofStatus(const ReportFields&)>;

// Told of each committed batch, on the writer thread, after its commit waiters are answered: the
// items as stored (with their spoofing verdicts) and the store's result (outcomes, new alerts).
// It must not block (the receiver's notifier only queues).
using BatchObserver = std::function<void(std::span<const Item> items, const BatchResult& result)>;

class Writer {
public:
  Writer(ReportStore& store, WriterConfig config, SpoofClassifier classify = {});
  // Before start(): who is told of each committed batch.
  void set_observer(BatchObserver observer) { observer_ = std::move(observer); }
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void start();
  // Commits everything queued, then ends the thread.
  void stop();

  // Queues without waiting; false (and counted) when the queue is full.
  bool offer(Item item);
  // Waits for room in the queue (for a capture file, which can wait).
  void put(Item item);
  // As offer and put, for several items at once (one lock, at most one wake-up). offer_all queues
  // what fits and counts the rest as dropped; it returns how many it queued. The items are moved from.
  std::size_t offer_all(std::vector<Item>& items);
  void put_all(std::vector<Item>& items);
  // Counts reports dropped before they reached the writer (a full verification queue).
  void count_dropped(std::uint64_t n);
  // Queues the items and waits until they are committed. Empty on success: the outcome of each
  // item; an error when the queue stayed full or the commit was not done within `timeout` (one
  // deadline for both; counted in commit_timeouts when the commit was late: the items stay queued
  // and are written later), or the commit failed.
  [[nodiscard]] std::expected<std::vector<Outcome>, std::string> commit(std::vector<Item> items,
                                                                      std::chrono::milliseconds timeout);
  // Waits until everything queued so far is committed (for tests and the end of a capture file).
  void flush();

  [[nodiscard]] WriterStats stats() const;

private:
  struct Waiter {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::string error;
    std::vector<Outcome> outcomes;
    std::size_t remaining = 0;
  };
  struct Entry {
    Item item;
    std::shared_ptr<Waiter> waiter;  // null for fire-and-forget inputs
    std::size_t index = 0;
    std::size_t bytes = 0;  // item_bytes(item)
  };
  // Whether `bytes` more fit (always, into an empty queue: one item may exceed the cap alone).
  [[nodiscard]] bool fits(std::size_t items, std::size_t bytes) const noexcept {
    return queue_.empty() ||
           (queue_.size() + items <= config_.queue_capacity && queued_bytes_ + bytes <= config_.queue_bytes);
  }

  void run();
  void write_batch(std::vector<Entry>& batch);
  void warn(const std::string& message) const;
  // After queueing: wakes the thread when it has something to do (called with mutex_ held).
  void wake_if_due(std::size_t queued_before);

  ReportStore& store_;
  WriterConfig config_;
  SpoofClassifier classify_;
  BatchObserver observer_;

  mutable std::mutex mutex_;
  std::condition_variable has_items_, has_room_, committed_;
  std::deque<Entry> queue_;
  std::size_t queued_bytes_ = 0;  // item_bytes of what queue_ holds
  bool stopping_ = false;
  std::uint64_t enqueued_ = 0, written_ = 0;  // sequence numbers for flush()
  std::size_t queued_waiters_ = 0;  // entries in queue_ whose commit() waits
  std::atomic<std::uint64_t> dropped_pending_{0};
  WriterStats stats_;
  std::jthread thread_;
};

}  // namespace overflowd::store
