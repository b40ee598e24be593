// A setting that can change while threads read it (SIGHUP reload): an immutable snapshot swapped
// whole. The writer publishes a new shared_ptr<const T>; each reader keeps its own copy and looks
// at one atomic generation counter per batch (or per call), taking the mutex only when that moved.
// So the hot path never locks, a reader never sees half a change, and an old snapshot lives as
// long as some reader still holds it. Used by app::PolicyHolder, the sender's report settings
// (PipelineSettings::live: the contact) and sink::DeliverySink's reloadable limits.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace overflowd::core {

template <class T>
class Live {
public:
  explicit Live(std::shared_ptr<const T> first) : current_(std::move(first)) {}
  explicit Live(T first) : current_(std::make_shared<const T>(std::move(first))) {}

  // Replaces the snapshot; readers take it at their next look.
  void publish(std::shared_ptr<const T> next) {
    {
      std::lock_guard lock(mutex_);
      current_ = std::move(next);
    }
    generation_.fetch_add(1, std::memory_order_release);
  }
  void publish(T next) { publish(std::make_shared<const T>(std::move(next))); }

  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  [[nodiscard]] std::shared_ptr<const T> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
  std::atomic<std::uint64_t> generation_{0};
};

// One reader's view of a Live<T> (one per thread, or used under the reader's own lock).
template <class T>
class LiveView {
public:
  explicit LiveView(const Live<T>& live) : live_(&live), seen_(live.generation()), value_(live.current()) {}

  // True when a new snapshot was taken (the caller may apply it); one atomic load otherwise.
  bool refresh() {
    const std::uint64_t g = live_->generation();
    if (g == seen_) return false;
    value_ = live_->current();  // at least as new as generation g
    seen_ = g;
    return true;
  }
  [[nodiscard]] const T& get() const noexcept { return *value_; }
  [[nodiscard]] const std::shared_ptr<const T>& shared() const noexcept { return value_; }

private:
  const Live<T>* live_;
  std::uint64_t seen_;
  std::shared_ptr<const T> value_;
};

}  // namespace overflowd::core
