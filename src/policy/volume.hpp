// Per-destination volume over a sliding window in bounded memory: packets, bytes and distinct
// sources per destination address, estimated by count-min sketches (depth rows of `width`
// counters, conservative update) rather than a map, so a flood to a million destinations costs
// exactly the memory of a flood to one. Distinct sources: a bitmap of (source, destination) pairs
// seen in the window; a pair's first sighting adds one to its destination's sources sketch.
//
// The window slides: two epochs of `window` each, the current one and the
// one before; an estimate is current + previous x (the part of the previous epoch still inside the
// window). Estimates never undercount a destination's packets or bytes (count-min); they may
// overcount when destinations share counters (rare with a wide sketch; the hash key is random per
// run, so an outsider cannot plan collisions). Distinct sources may undercount once the pair
// bitmap fills (then it says "at least").
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

  [[nodiscard]] std::size_t memory_bytes() const noexcept;
  [[nodiscard]] const VolumeConfig& config() const noexcept { return config_; }

private:
  struct Epoch {
    std::vector<std::uint64_t> packets, bytes;
    std::vector<std::uint32_t> sources;
    std::vector<std::uint64_t> pairs;  // bitmap
  };
  void advance(std::int64_t now_ns) noexcept;
  static void clear(Epoch& e) noexcept;

  VolumeConfig config_;
  std::size_t mask_ = 0;
  std::size_t pair_mask_ = 0;
  std::array<unsigned char, 16> key_{};
  std::int64_t window_ns_ = 0;
  std::int64_t epoch_start_ = 0;
  bool started_ = false;
  Epoch current_, previous_;
};

}  // namespace overflowd::policy
