#include "core/clock.hpp"

#include <ctime>

namespace overflowd::core {

namespace {

std::int64_t read(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

class SystemClock final : public Clock {
public:
  [[nodiscard]] std::int64_t wall_ns() const noexcept override { return read(CLOCK_REALTIME); }
  [[nodiscard]] std::int64_t monotonic_ns() const noexcept override { return read(CLOCK_MONOTONIC); }
};

}  // namespace

const Clock& system_clock() noexcept {
  static const SystemClock clock;  // stateless
  return clock;
}

std::int64_t thread_cpu_ns() noexcept { return read(CLOCK_THREAD_CPUTIME_ID); }

}  // namespace overflowd::core
