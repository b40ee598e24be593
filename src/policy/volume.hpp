// Per-destination volume over a sliding window in bounded memory: packets, bytes and distinct
// sources per destination address, estimated by count-min sketches (depth rows of `width`
// counters, conservative update) rather than a map, so a flood to a million destinations costs
// exactly the memory of a flood to one. Distinct sources: a bitmap of (source, destination) pairs
// seen in the window; a pair's first sighting adds one to its destination's sources sketch.
//
// The window slides: two epochs of `window` each, the current one and the
// one before; an estimate is current + previous x (the part of the previous epoch still inside the
// window). Estimates never undercount a destination's packets or bytes (count-min); they may
// overcount when destinations share counters (rare with a wide sketch). The hash is a keyed 64-bit
// multiply-xor mix with a key drawn per run (not SipHash: it runs for every flow, and the key is
// never seen outside, so an outsider still cannot aim collisions). Each row's counters for one
// destination, both epochs, share one 64-byte cell: a flow costs one cache line per row. Distinct
// sources may undercount once the pair bitmap fills (then it says "at least").
//
// Pure: the caller passes the time (monotonic nanoseconds). Not thread-safe: one per worker.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/ip_address.hpp"

namespace overflowd::policy {

struct VolumeConfig {
  double window_s = 10;            // > 0
  std::size_t width = 16384;       // counters per row (rounded up to a power of two)
  std::size_t depth = 4;           // rows, 1..8
  std::size_t pair_bits = 1 << 22; // the (source, destination) bitmap, bits (rounded up to a power of two)
};

struct VolumeEstimate {
  double packets_per_second = 0;
  double bits_per_second = 0;
  double distinct_sources = 0;
};

class VolumeSketch {
public:
  explicit VolumeSketch(const VolumeConfig& config);

  // Counts one flow (packets and bytes already scaled by the sampling interval) and returns its
  // destination's estimate including it.
  VolumeEstimate add(const core::IpAddress& src, const core::IpAddress& dst, std::uint64_t packets,
                     std::uint64_t bytes, std::int64_t now_ns) noexcept;

  // Asks the CPU to load the cells add(src, dst, ...) will touch: a batch of flows prefetched
  // first and added after overlaps their cache misses instead of paying them one by one.
  void prefetch(const core::IpAddress& src, const core::IpAddress& dst) const noexcept;

  [[nodiscard]] std::size_t memory_bytes() const noexcept;
  [[nodiscard]] const VolumeConfig& config() const noexcept { return config_; }

private:
  struct alignas(64) Cell {
    std::uint64_t packets = 0, bytes = 0, prev_packets = 0, prev_bytes = 0;
    std::uint32_t sources = 0, prev_sources = 0;
  };
  struct PairWord {
    std::uint64_t current = 0, previous = 0;
  };
  void advance(std::int64_t now_ns) noexcept;
  void rotate(bool keep_previous) noexcept;
  [[nodiscard]] std::uint64_t hash(const core::IpAddress& a, std::uint64_t salt) const noexcept;

  VolumeConfig config_;
  std::size_t mask_ = 0;
  std::size_t pair_mask_ = 0;
  std::array<std::uint64_t, 4> key_{};
  std::int64_t window_ns_ = 0;
  std::int64_t epoch_start_ = 0;
  bool started_ = false;
  std::vector<Cell> cells_;      // depth rows of width cells
  std::vector<PairWord> pairs_;  // the (source, destination) bitmaps of both epochs, word by word
};

}  // namespace overflowd::policy
