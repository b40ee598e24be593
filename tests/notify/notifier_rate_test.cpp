// OperatorNotifier::set_per_minute (a receiver reload of --alert-rate): the new rate holds from the
// next event, and what the old limiter held back is told first, never lost.
#include "notify/notifier.hpp"

#include <gtest/gtest.h>

namespace overflowd::notify {
namespace {

Event alert(int i) { return {"alert", "{\"type\":\"alert\"}", "test alert " + std::to_string(i)}; }

TEST(OperatorNotifier, ANewRateHoldsFromTheNextEventAndTheHeldBackCountIsTold) {
  OperatorNotifierConfig config;
  config.per_minute = 2;
  auto n = OperatorNotifier::open(config);
  ASSERT_TRUE(n) << n.error();
  for (int i = 0; i < 5; ++i) (*n)->notify(alert(i));
  EXPECT_EQ((*n)->stats().told, 2u);
  EXPECT_EQ((*n)->stats().suppressed, 3u);
  (*n)->set_per_minute(10);
  EXPECT_EQ((*n)->stats().told, 3u);  // "3 more alerts ... were not told", at once
  for (int i = 0; i < 5; ++i) (*n)->notify(alert(10 + i));
  EXPECT_EQ((*n)->stats().told, 8u);  // all five: the new window allows 10
  EXPECT_EQ((*n)->stats().suppressed, 3u);
  (*n)->set_per_minute(0);
  (*n)->notify(alert(20));
  EXPECT_EQ((*n)->stats().told, 8u);
  EXPECT_EQ((*n)->stats().suppressed, 4u);
  (*n)->stop();
}

}  // namespace
}  // namespace overflowd::notify
