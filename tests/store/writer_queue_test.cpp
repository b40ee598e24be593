// The receiver's write queue under a flood of large reports: it is bounded in items AND in bytes
// (WriterConfig::queue_bytes, --queue-mib), so reports of up to 64 KiB cannot make 100,000 queued
// items hold gigabytes. What does not fit is dropped and counted; a lone item larger than the byte
// cap still gets in (an empty queue takes anything), so no report is refused for its size alone.
#include <gtest/gtest.h>

#include <string>

#include "store/writer.hpp"
#include "receive/receive_test_util.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;

using testing::item;
using testing::key;
using testing::TempDb;

// A verified report (compact form) whose identity is `size` bytes long.
std::string big_report(std::size_t size) {
  return std::string(testing::signed_report(key(1), "noc@example.net", std::string(size, 'i')).compact());
}

TEST(WriterQueue, BoundedInBytesAsWellAsItems) {
  TempDb t;
  StoreConfig sc;
  sc.path = t.path();
  auto store = SqliteStore::open(sc);
  ASSERT_TRUE(store) << store.error();
  WriterConfig wc;
  wc.queue_capacity = 100'000;
  wc.queue_bytes = 1u << 20;  // 1 MiB
  Writer writer(**store, wc);  // not started: nothing leaves the queue

  const Item one = item(big_report(30'000));
  ASSERT_TRUE(std::holds_alternative<Accepted>(one.verdict));
  const std::size_t each = item_bytes(one);
  EXPECT_GT(each, 2u * 30'000u);  // the message and the identity copied out of it
  std::size_t taken = 0;
  for (int i = 0; i < 100; ++i) taken += writer.offer(one) ? 1u : 0u;
  EXPECT_EQ(taken, (1u << 20) / each);
  EXPECT_EQ(writer.stats().dropped, 100u - taken);
  EXPECT_EQ(writer.stats().queued, taken);
}

TEST(WriterQueue, AnItemLargerThanTheByteCapStillEntersAnEmptyQueue) {
  TempDb t;
  StoreConfig sc;
  sc.path = t.path();
  auto store = SqliteStore::open(sc);
  ASSERT_TRUE(store) << store.error();
  WriterConfig wc;
  wc.queue_bytes = 1000;
  Writer writer(**store, wc);
  EXPECT_TRUE(writer.offer(item(big_report(5000))));
  EXPECT_FALSE(writer.offer(item(big_report(10))));  // the queue is over its cap
  writer.start();
  writer.flush();
  EXPECT_EQ(writer.stats().stored, 1u);
  EXPECT_EQ(writer.stats().queued, 0u);
  EXPECT_TRUE(writer.offer(item(big_report(5000))));  // empty again
  writer.stop();
}

}  // namespace
}  // namespace overflowd::receive
