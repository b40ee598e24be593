// Rate-limited logging: at most `per_minute` lines in each one-minute window (a window starts with
// the first line after the previous one ended); the rest are counted, and the count is handed back
// once, when the next window starts (or by take_suppressed at the end), so the caller can log
// "N more not logged". Pure and not thread-safe: the caller owns it on one thread or under a lock.
#pragma once

#include <cstdint>

namespace overflowd::core {

class LogLimiter {
public:
  static constexpr std::int64_t kWindowNs = std::int64_t{60} * 1'000'000'000;

  explicit LogLimiter(std::uint32_t per_minute) noexcept : per_minute_(per_minute) {}

  struct Decision {
    bool log = false;                  // log this line
    std::uint64_t suppressed_before = 0;  // lines not logged in the window that just ended: say so now
  };

  [[nodiscard]] Decision admit(std::int64_t now_ns) noexcept {
    Decision d;
    if (!started_ || now_ns - window_start_ns_ >= kWindowNs) {
      d.suppressed_before = suppressed_;
      suppressed_ = 0;
      used_ = 0;
      window_start_ns_ = now_ns;
      started_ = true;
    }
    if (used_ < per_minute_) {
      ++used_;
      d.log = true;
    } else {
      ++suppressed_;
      ++total_suppressed_;
    }
    return d;
  }
  // Lines not logged and not yet reported (for the end of a run).
  [[nodiscard]] std::uint64_t take_suppressed() noexcept {
    const std::uint64_t n = suppressed_;
    suppressed_ = 0;
    return n;
  }
  [[nodiscard]] std::uint64_t total_suppressed() const noexcept { return total_suppressed_; }

private:
  std::uint32_t per_minute_;
  bool started_ = false;
  std::int64_t window_start_ns_ = 0;
  std::uint32_t used_ = 0;
  std::uint64_t suppressed_ = 0, total_suppressed_ = 0;
};

}  // namespace overflowd::core
