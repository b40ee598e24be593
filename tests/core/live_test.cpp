// core::Live: readers never see half a snapshot, always end on the last one published, and look
// only at an atomic between changes. Labelled `threads`: run under ThreadSanitizer by make test-tsan.
#include "core/live.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

namespace overflowd::core {
namespace {

// A snapshot whose members must agree: a torn read would show a != b or a wrong sum.
struct Pair {
  std::uint64_t a = 0, b = 0;
  std::array<std::uint64_t, 16> filler{};
  std::uint64_t sum = 0;
};

Pair make(std::uint64_t n) {
  Pair p{n, n, {}, 0};
  for (auto& f : p.filler) f = n;
  p.sum = n * 18;
  return p;
}

TEST(Live, ReaderTakesAPublishedSnapshotOnlyWhenTheGenerationMoved) {
  Live<Pair> live(make(1));
  LiveView<Pair> view(live);
  EXPECT_EQ(view.get().a, 1u);
  EXPECT_FALSE(view.refresh());
  live.publish(make(2));
  EXPECT_EQ(view.get().a, 1u);  // nothing changes under a reader until it looks
  EXPECT_TRUE(view.refresh());
  EXPECT_EQ(view.get().a, 2u);
  EXPECT_FALSE(view.refresh());
}

TEST(Live, AnOldSnapshotLivesWhileAReaderHoldsIt) {
  Live<Pair> live(make(1));
  LiveView<Pair> view(live);
  const Pair* held = &view.get();
  for (std::uint64_t n = 2; n < 10; ++n) live.publish(make(n));
  EXPECT_EQ(held->sum, 18u);  // still valid: the view owns it
  view.refresh();
  EXPECT_EQ(view.get().a, 9u);
}

TEST(Live, SwapsUnderConcurrentReadersAreWholeAndInOrder) {
  Live<Pair> live(make(0));
  constexpr std::uint64_t kPublished = 2000;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> torn{0}, backwards{0}, changes{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      LiveView<Pair> view(live);
      ready.fetch_add(1);
      std::uint64_t last = view.get().a;
      const auto check = [&] {
        const Pair& p = view.get();
        if (p.a != p.b || p.sum != p.a * 18 || p.filler[7] != p.a) torn.fetch_add(1);
        if (p.a < last) backwards.fetch_add(1);
        last = p.a;
      };
      while (!done.load(std::memory_order_acquire)) {
        if (view.refresh()) changes.fetch_add(1, std::memory_order_relaxed);
        check();
      }
      if (view.refresh()) changes.fetch_add(1, std::memory_order_relaxed);  // after the last publish: the last
      check();
      if (last != kPublished) backwards.fetch_add(1000);
    });
  }
  while (ready.load() < 4) std::this_thread::yield();  // every view made before the first publish
  for (std::uint64_t n = 1; n <= kPublished; ++n) live.publish(make(n));
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(backwards.load(), 0u);
  EXPECT_GE(changes.load(), 4u);  // each reader took at least the last snapshot
  EXPECT_EQ(live.generation(), kPublished);
}

}  // namespace
}  // namespace overflowd::core
