#include "receive/verifier.hpp"

#include <algorithm>

namespace overflowd::receive {

namespace {
constexpr std::uint64_t kMaxClaim = 32;     // reports a thread takes at once
constexpr std::size_t kMaxDeliver = 256;    // reports handed on at once
}  // namespace

Verifier::Verifier(VerifierConfig config, SkewPolicy skew, Deliver deliver, VerifiedCache* cache)
    : config_(config), skew_(skew), deliver_(std::move(deliver)), cache_(cache) {
  threads_ = config_.threads ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
  if (config_.queue_capacity == 0) config_.queue_capacity = 1;
  if (config_.queue_bytes == 0) config_.queue_bytes = 1;
}

Verifier::~Verifier() { stop(); }

void Verifier::start() {
  {
    std::lock_guard lock(mutex_);
    running_ += threads_;
  }
  for (std::size_t i = 0; i < threads_; ++i) workers_.emplace_back([this] { run(); });
}

void Verifier::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  has_work_.notify_all();
  has_room_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  delivered_cv_.notify_all();
}

void Verifier::push(const Arrival& arrival, std::string_view raw) {
  jobs_.push_back(Job{arrival, std::string(raw), std::nullopt, false});
  queued_bytes_ += job_bytes(raw.size());
  ++submitted_;
  has_work_.notify_one();
}

bool Verifier::offer(const Arrival& arrival, std::string_view raw) {
  std::lock_guard lock(mutex_);
  if (!fits(raw.size()) || stopping_) {
    ++stats_.dropped;
    return false;
  }
  push(arrival, raw);
  return true;
}

void Verifier::put(const Arrival& arrival, std::string_view raw) {
  std::unique_lock lock(mutex_);
  has_room_.wait(lock, [&] { return fits(raw.size()) || stopping_; });
  if (stopping_) {
    ++stats_.dropped;
    return;
  }
  push(arrival, raw);
}

void Verifier::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = submitted_;
  delivered_cv_.wait(lock, [&] { return delivered_ >= target || (stopping_ && running_ == 0); });
}

VerifierStats Verifier::stats() const {
  std::lock_guard lock(mutex_);
  VerifierStats s = stats_;
  s.queued = jobs_.size();
  return s;
}

void Verifier::run() {
  std::vector<Job*> mine;
  std::vector<Item> out;
  std::unique_lock lock(mutex_);
  for (;;) {
    has_work_.wait(lock, [&] { return claimed_ < submitted_ || stopping_; });
    if (claimed_ == submitted_) {  // stopping, and nothing left to take
      --running_;
      delivered_cv_.notify_all();
      return;
    }
    // An even share of what waits, so that every thread has some.
    const std::uint64_t n = std::clamp<std::uint64_t>((submitted_ - claimed_) / threads_, 1, kMaxClaim);
    mine.clear();
    for (std::uint64_t i = 0; i < n; ++i) mine.push_back(&jobs_[static_cast<std::size_t>(claimed_ - front_ + i)]);
    claimed_ += n;
    lock.unlock();
    // Only this thread touches a claimed job until it is marked done (deque elements stay put).
    for (Job* j : mine) j->verdict = ingest(j->raw, j->arrival.received_ns, skew_, cache_);
    lock.lock();
    for (Job* j : mine) j->done = true;
    stats_.verified += n;
    if (delivering_) continue;  // the thread delivering picks these up, in order
    delivering_ = true;
    while (!jobs_.empty() && jobs_.front().done) {
      out.clear();
      while (!jobs_.empty() && jobs_.front().done && out.size() < kMaxDeliver) {
        Job& j = jobs_.front();
        queued_bytes_ -= job_bytes(j.raw.size());
        out.push_back(Item{std::move(j.arrival), std::move(*j.verdict), SpoofStatus::not_mine});
        jobs_.pop_front();
        ++front_;
      }
      has_room_.notify_all();
      lock.unlock();
      const std::size_t count = out.size();
      deliver_(out);
      lock.lock();
      delivered_ += count;
    }
    delivering_ = false;
    delivered_cv_.notify_all();
  }
}

}  // namespace overflowd::receive
