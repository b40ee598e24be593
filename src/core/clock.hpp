// The one clock: wall time (Unix nanoseconds), monotonic time, and a thread's CPU time. Code that
// keeps time takes a `const Clock&` (system_clock() unless a test injects its own), so a test can
// hold time still or move it; nothing else reads clock_gettime.
#pragma once

#include <atomic>
#include <cstdint>

namespace overflowd::core {

class Clock {
public:
  virtual ~Clock() = default;
  // Unix time in nanoseconds (CLOCK_REALTIME).
  [[nodiscard]] virtual std::int64_t wall_ns() const noexcept = 0;
  // Nanoseconds since an arbitrary start, never going back (CLOCK_MONOTONIC).
  [[nodiscard]] virtual std::int64_t monotonic_ns() const noexcept = 0;
};

// The operating system's clocks.
[[nodiscard]] const Clock& system_clock() noexcept;

// CPU time of the calling thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID): a measurement, not a
// time, so not a Clock's.
[[nodiscard]] std::int64_t thread_cpu_ns() noexcept;

// A clock a test sets by hand; atomic, since the test's thread moves it while the code's threads
// (a writer, a notifier) read it.
class ManualClock final : public Clock {
public:
  explicit ManualClock(std::int64_t wall_ns = 0, std::int64_t monotonic_ns = 0) noexcept
      : wall_(wall_ns), monotonic_(monotonic_ns) {}
  [[nodiscard]] std::int64_t wall_ns() const noexcept override { return wall_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::int64_t monotonic_ns() const noexcept override { return monotonic_.load(std::memory_order_relaxed); }
  void advance_ns(std::int64_t ns) noexcept {
    wall_.fetch_add(ns, std::memory_order_relaxed);
    monotonic_.fetch_add(ns, std::memory_order_relaxed);
  }

private:
  std::atomic<std::int64_t> wall_, monotonic_;
};

}  // namespace overflowd::core
