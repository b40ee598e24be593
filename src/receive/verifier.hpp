// Verification on several threads. The inputs that read reports one at a time (UDP, a capture)
// hand each raw report to this pool; its threads run ingest() (the Ed25519 check is most of a
// report's cost) and hand the verdicts on in the order the reports came, in chunks, to `deliver`
// (the writer's queue). So N threads verify about N times as many reports per second as one,
// and the single SQLite writer stores them as before, in the same order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "receive/item.hpp"

namespace overflowd::receive {

struct VerifierConfig {
  std::size_t threads = 0;            // 0: one per core
  std::size_t queue_capacity = 8192;  // reports waiting for, or in, verification
  std::size_t queue_bytes = 64u << 20;  // and their bytes (job_bytes): a report may hold 64 KiB
};

struct VerifierStats {
  std::uint64_t verified = 0;
  std::uint64_t dropped = 0;  // offer() on a full queue
  std::size_t queued = 0;
};

class Verifier {
public:
  // Takes verified items in the order they were offered (it may move from them); called by one
  // thread at a time, never with the pool's lock held, so it may block (backpressure).
  using Deliver = std::function<void(std::vector<Item>&)>;

  // `cache`, when given, must outlive the pool (ingest's cache of checked signatures).
  Verifier(VerifierConfig config, SkewPolicy skew, Deliver deliver, VerifiedCache* cache = nullptr);
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  void start();
  // Verifies and delivers everything queued, then ends the threads.
  void stop();

  // Queues a copy of `raw`; false (and counted) when the queue is full or the pool stopping.
  bool offer(const Arrival& arrival, std::string_view raw);
  // Waits for room (a capture file can wait).
  void put(const Arrival& arrival, std::string_view raw);
  // Waits until everything queued so far has been delivered.
  void flush();

  [[nodiscard]] std::size_t threads() const noexcept { return threads_; }
  [[nodiscard]] VerifierStats stats() const;

private:
  struct Job {
    Arrival arrival;
    std::string raw;
    std::optional<Verdict> verdict;
    bool done = false;
  };

  void run();
  void push(const Arrival& arrival, std::string_view raw);  // with mutex_ held and room checked
  // Whether a report of `raw_size` bytes fits (always, into an empty queue).
  [[nodiscard]] bool fits(std::size_t raw_size) const noexcept {
    return jobs_.empty() ||
           (jobs_.size() < config_.queue_capacity && queued_bytes_ + job_bytes(raw_size) <= config_.queue_bytes);
  }
  [[nodiscard]] static std::size_t job_bytes(std::size_t raw_size) noexcept { return sizeof(Job) + raw_size; }

  VerifierConfig config_;
  SkewPolicy skew_;
  Deliver deliver_;
  VerifiedCache* cache_ = nullptr;
  std::size_t threads_ = 1;

  mutable std::mutex mutex_;
  std::condition_variable has_work_, has_room_, delivered_cv_;
  std::deque<Job> jobs_;  // jobs_[0] is number front_ in arrival order
  std::uint64_t front_ = 0, claimed_ = 0, submitted_ = 0, delivered_ = 0;
  std::size_t queued_bytes_ = 0;  // job_bytes of what jobs_ holds
  std::size_t running_ = 0;  // worker threads not yet ended
  bool delivering_ = false, stopping_ = false;
  VerifierStats stats_;
  std::vector<std::jthread> workers_;
};

}  // namespace overflowd::receive
