#include "store/writer.hpp"
#include "core/clock.hpp"

#include <ctime>

namespace overflowd::store {

using namespace receive;

namespace {
}  // namespace

std::size_t item_bytes(const Item& item) noexcept {
  std::size_t n = sizeof(Item) + item.arrival.peer.size();
  if (const auto* a = std::get_if<Accepted>(&item.verdict)) {
    n += a->message.size() + a->fields.email.size() + a->fields.identity.size() + a->fields.source_type.size();
  } else if (const auto* r = std::get_if<Rejected>(&item.verdict)) {
    n += r->reason.size() + r->raw.size();
  }
  return n;
}

Writer::Writer(ReportStore& store, WriterConfig config, SpoofClassifier classify)
    : store_(store), config_(config), classify_(std::move(classify)) {
  if (config_.batch_size == 0) config_.batch_size = 1;
  if (config_.queue_capacity == 0) config_.queue_capacity = 1;
  if (config_.queue_bytes == 0) config_.queue_bytes = 1;
}

Writer::~Writer() { stop(); }

void Writer::start() { thread_ = std::jthread([this] { run(); }); }

void Writer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  has_items_.notify_all();
  has_room_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Writer::wake_if_due(std::size_t queued_before) {
  // The thread waits for a first item (to start the batch interval), then for a full batch or a
  // commit waiter; anything else can wait for the interval to end.
  if (queued_before == 0 || queue_.size() >= config_.batch_size || queued_waiters_ > 0) has_items_.notify_one();
}

bool Writer::offer(Item item) {
  const std::size_t bytes = item_bytes(item);
  std::lock_guard lock(mutex_);
  if (!fits(1, bytes) || stopping_) {
    ++stats_.dropped;
    dropped_pending_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const std::size_t before = queue_.size();
  queue_.push_back(Entry{std::move(item), nullptr, 0, bytes});
  queued_bytes_ += bytes;
  ++enqueued_;
  wake_if_due(before);
  return true;
}

std::size_t Writer::offer_all(std::vector<Item>& items) {
  std::lock_guard lock(mutex_);
  const std::size_t before = queue_.size();
  std::size_t n = 0;
  if (!stopping_) {
    for (; n < items.size(); ++n) {
      const std::size_t bytes = item_bytes(items[n]);
      if (!fits(1, bytes)) break;
      queue_.push_back(Entry{std::move(items[n]), nullptr, 0, bytes});
      queued_bytes_ += bytes;
    }
  }
  enqueued_ += n;
  if (const std::size_t dropped = items.size() - n) {
    stats_.dropped += dropped;
    dropped_pending_.fetch_add(dropped, std::memory_order_relaxed);
  }
  if (n) wake_if_due(before);
  return n;
}

void Writer::put(Item item) {
  const std::size_t bytes = item_bytes(item);
  std::unique_lock lock(mutex_);
  has_room_.wait(lock, [&] { return fits(1, bytes) || stopping_; });
  if (stopping_) {
    ++stats_.dropped;
    dropped_pending_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::size_t before = queue_.size();
  queue_.push_back(Entry{std::move(item), nullptr, 0, bytes});
  queued_bytes_ += bytes;
  ++enqueued_;
  wake_if_due(before);
}

void Writer::put_all(std::vector<Item>& items) {
  std::unique_lock lock(mutex_);
  for (std::size_t i = 0; i < items.size();) {
    const std::size_t first_bytes = item_bytes(items[i]);
    has_room_.wait(lock, [&] { return fits(1, first_bytes) || stopping_; });
    if (stopping_) {
      stats_.dropped += items.size() - i;
      dropped_pending_.fetch_add(items.size() - i, std::memory_order_relaxed);
      return;
    }
    const std::size_t before = queue_.size();
    for (; i < items.size(); ++i) {
      const std::size_t bytes = item_bytes(items[i]);
      if (!fits(1, bytes)) break;
      queue_.push_back(Entry{std::move(items[i]), nullptr, 0, bytes});
      queued_bytes_ += bytes;
      ++enqueued_;
    }
    wake_if_due(before);
  }
}

void Writer::count_dropped(std::uint64_t n) {
  if (n == 0) return;
  std::lock_guard lock(mutex_);
  stats_.dropped += n;
  dropped_pending_.fetch_add(n, std::memory_order_relaxed);
}

std::expected<std::vector<Outcome>, std::string> Writer::commit(std::vector<Item> items,
                                                               std::chrono::milliseconds timeout) {
  auto waiter = std::make_shared<Waiter>();
  waiter->outcomes.resize(items.size());
  waiter->remaining = items.size();
  if (items.empty()) return waiter->outcomes;
  // One deadline for both waits: for room in the queue and for the commit. Past it, the caller
  // gets an error (HTTP: 503) and the items, if queued, are still written (a retry is a duplicate).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t bytes = 0;
  for (const Item& item : items) bytes += item_bytes(item);
  {
    std::unique_lock lock(mutex_);
    if (!has_room_.wait_until(lock, deadline, [&] { return fits(items.size(), bytes) || stopping_; }))
      return std::unexpected("the receiver is busy (write queue full)");
    if (stopping_) return std::unexpected("the receiver is shutting down");
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::size_t b = item_bytes(items[i]);
      queue_.push_back(Entry{std::move(items[i]), waiter, i, b});
      queued_bytes_ += b;
    }
    enqueued_ += items.size();
    queued_waiters_ += items.size();
    has_items_.notify_one();
  }
  std::unique_lock lock(waiter->m);
  if (!waiter->cv.wait_until(lock, deadline, [&] { return waiter->done; })) {
    lock.unlock();
    std::lock_guard g(mutex_);
    ++stats_.commit_timeouts;
    return std::unexpected("the receiver is busy (commit timed out)");
  }
  if (!waiter->error.empty()) return std::unexpected(waiter->error);
  return waiter->outcomes;
}

void Writer::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = enqueued_;
  committed_.wait(lock, [&] { return written_ >= target || stopping_; });
}

WriterStats Writer::stats() const {
  std::lock_guard lock(mutex_);
  WriterStats s = stats_;
  s.queued = queue_.size();
  return s;
}

void Writer::warn(const std::string& message) const {
  if (config_.warn) config_.warn(message);
}

void Writer::write_batch(std::vector<Entry>& batch) {
  std::vector<Item> items;
  items.reserve(batch.size());
  for (auto& e : batch) {
    if (classify_)
      if (const auto* a = std::get_if<Accepted>(&e.item.verdict)) e.item.spoof = classify_(a->fields);
    items.push_back(std::move(e.item));
  }
  std::map<std::string, std::int64_t> extra;
  if (const auto d = dropped_pending_.exchange(0, std::memory_order_relaxed)) extra["dropped.queue_full"] = static_cast<std::int64_t>(d);
  const auto started = std::chrono::steady_clock::now();
  auto result = store_.write(items, extra);
  if (!result && result.error().find("locked") != std::string::npos) result = store_.write(items, extra);  // once more
  if (config_.on_commit)
    config_.on_commit(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
  if (auto sized = store_.enforce_size(); !sized)
    warn("the database size bound failed: " + sized.error());
  const std::uint64_t cpu = static_cast<std::uint64_t>(core::thread_cpu_ns());
  {
    std::lock_guard lock(mutex_);
    stats_.thread_cpu_ns = cpu;
    ++stats_.batches;
    if (result) {
      stats_.stored += result->stored;
      stats_.duplicates += result->duplicates;
      stats_.rejected += result->rejected;
    } else {
      ++stats_.write_errors;
    }
  }
  if (!result) warn("a batch of " + std::to_string(items.size()) + " reports was not stored: " + result.error());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& w = batch[i].waiter;
    if (!w) continue;
    std::lock_guard lock(w->m);
    if (result) w->outcomes[batch[i].index] = result->outcomes[i];
    else w->error = "storing failed: " + result.error();
    if (--w->remaining == 0) {
      w->done = true;
      w->cv.notify_all();
    }
  }
  if (result && observer_) observer_(items, *result);
}

void Writer::run() {
  using clock = std::chrono::steady_clock;
  std::vector<Entry> batch;
  batch.reserve(config_.batch_size);
  clock::time_point first_at{};
  auto last_retention = clock::now() - std::chrono::seconds(config_.retention_interval_s);  // once at start
  auto last_tick = clock::now();
  for (;;) {
    bool waiter_in_batch = false, stopping = false;
    {
      std::unique_lock lock(mutex_);
      if (batch.empty()) {
        has_items_.wait_for(lock, std::chrono::seconds(1), [&] { return !queue_.empty() || stopping_; });
        if (!queue_.empty()) first_at = clock::now();
      }
      if (!queue_.empty() || !batch.empty()) {
        // Until the batch is due: full, a commit waits, the interval ends, or the writer stops.
        has_items_.wait_until(lock, first_at + std::chrono::milliseconds(config_.batch_ms), [&] {
          return batch.size() + queue_.size() >= config_.batch_size || queued_waiters_ > 0 || stopping_;
        });
      }
      while (!queue_.empty() && batch.size() < config_.batch_size) {
        queued_bytes_ -= queue_.front().bytes;
        if (queue_.front().waiter) --queued_waiters_;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stopping = stopping_;
    }
    has_room_.notify_all();
    for (const auto& e : batch) waiter_in_batch |= e.waiter != nullptr;
    const bool due = batch.size() >= config_.batch_size || waiter_in_batch || stopping ||
                     (!batch.empty() && clock::now() >= first_at + std::chrono::milliseconds(config_.batch_ms));
    if (due && !batch.empty()) {
      const std::size_t n = batch.size();
      write_batch(batch);
      batch.clear();
      {
        std::lock_guard lock(mutex_);
        written_ += n;
      }
      committed_.notify_all();
    }
    if (clock::now() - last_retention >= std::chrono::seconds(config_.retention_interval_s)) {
      last_retention = clock::now();
      if (auto r = store_.enforce_retention(config_.clock->wall_ns()); !r)
        warn("retention failed: " + r.error());
    }
    if (config_.tick && clock::now() - last_tick >= std::chrono::seconds(1)) {
      last_tick = clock::now();
      config_.tick();
    }
    if (stopping) {
      std::lock_guard lock(mutex_);
      if (queue_.empty() && batch.empty()) break;
    }
  }
  if (config_.tick) config_.tick();
  committed_.notify_all();
}

}  // namespace overflowd::store
