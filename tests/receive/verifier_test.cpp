// The verification pool: every report offered is verified and handed on once, in the order it was
// offered, whatever the number of threads; a full queue refuses and counts; stop() loses nothing.
#include "receive/verifier.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "receive_test_util.hpp"

namespace overflowd::receive {
namespace {

using namespace testing;

struct Collected {
  std::mutex m;
  std::vector<Item> items;
  void take(std::vector<Item>& batch) {
    std::lock_guard lock(m);
    for (auto& i : batch) items.push_back(std::move(i));
  }
};

// Reports of several keys and contacts, with refused inputs among them; the peer names the index.
std::vector<std::string> inputs(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 7 == 3) {
      out.push_back(i % 2 ? "not json" : "{\"key\":\"00\",\"signature\":\"\"}");
      continue;
    }
    FlowSpec spec;
    spec.sport = static_cast<std::uint16_t>(1000 + i);
    const auto r = signed_report(key(static_cast<std::uint8_t>(1 + i % 3)), "noc@example.net", "Net", spec);
    out.push_back(i % 2 ? std::string(r.compact()) : r.line);
  }
  return out;
}

TEST(Verifier, HandsOnEveryReportOnceInTheOrderOfferedWithAnyNumberOfThreads) {
  const auto raw = inputs(300);
  for (std::size_t threads : {1u, 2u, 5u}) {
    Collected got;
    Verifier v(VerifierConfig{threads, 64}, SkewPolicy{}, [&](std::vector<Item>& b) { got.take(b); });
    EXPECT_EQ(v.threads(), threads);
    v.start();
    for (std::size_t i = 0; i < raw.size(); ++i) v.put(Arrival{Input::udp, std::to_string(i), kNow}, raw[i]);
    v.flush();
    ASSERT_EQ(got.items.size(), raw.size()) << threads << " threads";
    for (std::size_t i = 0; i < raw.size(); ++i) {
      EXPECT_EQ(got.items[i].arrival.peer, std::to_string(i)) << threads << " threads";
      const bool accepted = std::holds_alternative<Accepted>(got.items[i].verdict);
      EXPECT_EQ(accepted, i % 7 != 3) << i;
      if (accepted) {
        EXPECT_EQ(std::get<Accepted>(got.items[i].verdict).fields.sport, static_cast<std::int64_t>(1000 + i));
      }
    }
    EXPECT_EQ(v.stats().verified, raw.size());
    EXPECT_EQ(v.stats().dropped, 0u);
  }
}

TEST(Verifier, AFullQueueRefusesAndCountsThenTheRestIsHandedOn) {
  const auto raw = inputs(6);
  Collected got;
  Verifier v(VerifierConfig{2, 4}, SkewPolicy{}, [&](std::vector<Item>& b) { got.take(b); });
  // Not started: nothing leaves the queue.
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(v.offer(Arrival{Input::udp, std::to_string(i), kNow}, raw[i]), i < 4) << i;
  EXPECT_EQ(v.stats().dropped, 2u);
  EXPECT_EQ(v.stats().queued, 4u);
  v.start();
  v.flush();
  ASSERT_EQ(got.items.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(got.items[i].arrival.peer, std::to_string(i));
}

TEST(Verifier, TheQueueIsBoundedInBytesTooButTakesALoneOversizedReport) {
  const std::string big(60'000, 'x');  // refused by ingest, but it must be queued first
  Collected got;
  // Room for two such reports by count many times over, by bytes for one only.
  Verifier v(VerifierConfig{1, 100, 100'000}, SkewPolicy{}, [&](std::vector<Item>& b) { got.take(b); });
  EXPECT_TRUE(v.offer(Arrival{Input::udp, "0", kNow}, big));
  EXPECT_FALSE(v.offer(Arrival{Input::udp, "1", kNow}, big));
  EXPECT_TRUE(v.offer(Arrival{Input::udp, "2", kNow}, "small"));
  EXPECT_EQ(v.stats().dropped, 1u);
  EXPECT_EQ(v.stats().queued, 2u);
  // A cap smaller than one report still takes it into an empty queue.
  Collected got2;
  Verifier tiny(VerifierConfig{1, 100, 10}, SkewPolicy{}, [&](std::vector<Item>& b) { got2.take(b); });
  EXPECT_TRUE(tiny.offer(Arrival{Input::udp, "0", kNow}, big));
  EXPECT_FALSE(tiny.offer(Arrival{Input::udp, "1", kNow}, "small"));
  v.start();
  v.flush();
  tiny.start();
  tiny.flush();
  ASSERT_EQ(got.items.size(), 2u);
  EXPECT_EQ(got.items[1].arrival.peer, "2");
  ASSERT_EQ(got2.items.size(), 1u);
  // Once handed on, the bytes are free again.
  EXPECT_TRUE(v.offer(Arrival{Input::udp, "3", kNow}, big));
  EXPECT_TRUE(v.offer(Arrival{Input::udp, "4", kNow}, "small"));
  v.flush();
  EXPECT_EQ(got.items.size(), 4u);
}

TEST(Verifier, PutWaitsForRoomAndLosesNothing) {
  const auto raw = inputs(40);
  Collected got;
  Verifier v(VerifierConfig{2, 2}, SkewPolicy{}, [&](std::vector<Item>& b) { got.take(b); });
  std::thread producer([&] {
    for (std::size_t i = 0; i < raw.size(); ++i) v.put(Arrival{Input::capture, std::to_string(i), kNow}, raw[i]);
  });
  v.start();
  producer.join();
  v.flush();
  ASSERT_EQ(got.items.size(), raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) EXPECT_EQ(got.items[i].arrival.peer, std::to_string(i));
}

TEST(Verifier, StopHandsOnEverythingQueued) {
  const auto raw = inputs(100);
  Collected got;
  {
    Verifier v(VerifierConfig{3, 1000}, SkewPolicy{}, [&](std::vector<Item>& b) { got.take(b); });
    for (std::size_t i = 0; i < raw.size(); ++i) ASSERT_TRUE(v.offer(Arrival{Input::udp, std::to_string(i), kNow}, raw[i]));
    v.start();
    v.stop();
    EXPECT_FALSE(v.offer(Arrival{Input::udp, "late", kNow}, raw[0]));
  }
  ASSERT_EQ(got.items.size(), raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) EXPECT_EQ(got.items[i].arrival.peer, std::to_string(i));
}

TEST(Verifier, ZeroThreadsMeansOnePerCore) {
  Verifier v(VerifierConfig{0, 16}, SkewPolicy{}, [](std::vector<Item>&) {});
  EXPECT_EQ(v.threads(), std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace overflowd::receive
