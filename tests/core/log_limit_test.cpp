#include "core/log_limit.hpp"

#include <gtest/gtest.h>

namespace overflowd::core {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

TEST(LogLimiter, AtMostNPerMinuteAndTheRestCountedOnce) {
  LogLimiter limit(3);
  int logged = 0;
  for (int i = 0; i < 10; ++i) {
    const auto d = limit.admit(i * kSecond);
    logged += d.log;
    EXPECT_EQ(d.suppressed_before, 0u);
  }
  EXPECT_EQ(logged, 3);
  EXPECT_EQ(limit.total_suppressed(), 7u);
  // The next window: the 7 are handed back once, with the first line logged again.
  const auto next = limit.admit(60 * kSecond);
  EXPECT_TRUE(next.log);
  EXPECT_EQ(next.suppressed_before, 7u);
  EXPECT_EQ(limit.admit(61 * kSecond).suppressed_before, 0u);
  EXPECT_EQ(limit.take_suppressed(), 0u);
}

TEST(LogLimiter, TakeSuppressedAtTheEnd) {
  LogLimiter limit(1);
  EXPECT_TRUE(limit.admit(0).log);
  EXPECT_FALSE(limit.admit(1).log);
  EXPECT_FALSE(limit.admit(2).log);
  EXPECT_EQ(limit.take_suppressed(), 2u);
  EXPECT_EQ(limit.take_suppressed(), 0u);
  EXPECT_EQ(limit.total_suppressed(), 2u);
}

TEST(LogLimiter, ZeroLogsNothing) {
  LogLimiter limit(0);
  EXPECT_FALSE(limit.admit(0).log);
  EXPECT_EQ(limit.total_suppressed(), 1u);
}

}  // namespace
}  // namespace overflowd::core
