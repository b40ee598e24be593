// Per-destination volume over a sliding window in bounded memory: packets, bytes and distinct
// sources per destination address, estimated by a count-min sketch (conservative update) rather
// than a map, so a flood to a million destinations costs exactly the memory of a flood to one.
//
// Layout (issue 16's speed): `depth` rows of `width` 16-byte counters (packets, sources, bytes),
// four to a cache line; a destination is hashed once (one keyed hash) and row i takes column
// h1 + i x h2 (Kirsch and Mitzenmacher's double hashing), so a counted flow costs `depth` cache
// lines, prefetched a datagram at a time. (One line for all rows was tried: a heavy destination
// then shares all its counters with a sixth of the keys of its line, false positives a test saw.)
// The previous epoch's counters live in a second array of the same shape that only estimate()
// reads, so counting touches current counters alone, and estimating is done only for the few flows
// whose rules run.
// Sampled counting: with `sample` = z > 1, a flow of x < z packets (after the sampling interval)
// is counted with probability q(x) = 1 - (1 - 1/z)^x (a packet-level Bernoulli(1/z) selection run
// as a geometric countdown: one subtraction per flow) and weighted by 1 / q(x) (stochastic rounding),
// a flow of z packets or more always, exactly. The estimate is unbiased with a variance below
// z x (its total): the policy picks z so that the standard error at the smallest volume threshold
// is at most 1 % (Policy::build), and z = 1 (every flow counted, count-min exact as before) when a
// threshold is small or a rule counts distinct sources.
//
// Distinct sources: a bitmap of (source, destination) pairs seen in the window (kept only when
// `sources`); a pair's first sighting adds one to its destination's sources counter. The count
// undercounts once the bitmap fills (two pairs on one bit: the second is taken as seen), so it
// says "at least" about that many sources.
//
// The window slides: two epochs of `window` each, the current one and the one before; an estimate
// is current + previous x (the part of the previous epoch still inside the window). Count-min
// never undercounts a destination's packets or bytes when z = 1; it may overcount when
// destinations share counters (rare with a wide sketch). Counters saturate: packets and sources at
// 2^32 - 1 per epoch (Policy::build refuses a threshold that could not be reached), bytes at 2^64 - 1.
// The hash is a keyed multiply-xor mix with a key drawn per run (it runs for every counted flow,
// and the key is never seen outside, so an outsider cannot aim collisions).
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
  std::size_t width = 8192;        // counters per row (rounded up to a power of two)
  std::size_t depth = 2;           // rows, 1..8
  std::size_t pair_bits = 1 << 22; // the (source, destination) bitmap, bits (rounded up to a power of two)
  std::uint32_t sample = 1;        // z: flows under z packets are counted with probability ~x/z (1: all)
  bool sources = true;             // keep the pair bitmap (distinct sources)
};

struct VolumeEstimate {
  double packets_per_second = 0;
  double bits_per_second = 0;
  double distinct_sources = 0;
};

class VolumeSketch {
public:
  explicit VolumeSketch(const VolumeConfig& config);

  // Counts one flow (packets and bytes already scaled by the sampling interval; sampled as the
  // config says) and returns its destination's estimate including it.
  VolumeEstimate add(const core::IpAddress& src, const core::IpAddress& dst, std::uint64_t packets,
                     std::uint64_t bytes, std::int64_t now_ns) noexcept;

  // The parts of add() for a batch: advance(now) once; for each flow take() decides whether it is
  // counted (and its weight); keys() and prefetch() for the counted ones; then count() each.
  struct Keys {
    std::uint64_t dst = 0;   // the destination's hash
    std::size_t pair = 0;    // the (source, destination) pair's bit (when sources are kept)
  };
  void advance(std::int64_t now_ns) noexcept;
  [[nodiscard]] bool take(std::uint64_t packets, double& weight) noexcept {
    weight = 1;
    if (packets >= config_.sample || packets == 0) return true;
    gap_ -= static_cast<std::int64_t>(packets);
    return gap_ > 0 ? false : selected(packets, weight);
  }
  [[nodiscard]] std::uint64_t key(const core::IpAddress& dst) const noexcept;
  [[nodiscard]] Keys keys(const core::IpAddress& src, const core::IpAddress& dst) const noexcept;
  void prefetch(const Keys& k) const noexcept;
  void count(const Keys& k, std::uint64_t packets, std::uint64_t bytes, double weight) noexcept;
  // The destination's volume over the window ending at now_ns (which advance() has seen).
  [[nodiscard]] VolumeEstimate estimate(std::uint64_t dst_key, std::int64_t now_ns) const noexcept;

  [[nodiscard]] std::size_t memory_bytes() const noexcept;
  [[nodiscard]] const VolumeConfig& config() const noexcept { return config_; }

private:
  struct alignas(16) Slot {
    std::uint32_t packets = 0, sources = 0;
    std::uint64_t bytes = 0;
  };
  struct PairWord {
    std::uint64_t current = 0, previous = 0;
  };
  [[nodiscard]] bool selected(std::uint64_t packets, double& weight) noexcept;
  [[nodiscard]] std::uint64_t next_random() noexcept;
  [[nodiscard]] std::int64_t draw_gap() noexcept;
  [[nodiscard]] std::uint64_t round(double v) noexcept;

  VolumeConfig config_;
  std::size_t mask_ = 0;
  std::size_t pair_mask_ = 0;
  std::array<std::uint64_t, 4> key_{};
  std::uint64_t rng_ = 0;
  std::int64_t gap_ = 0;                 // packets until the next selected one (sample > 1)
  double log_keep_ = 0;                  // log(1 - 1/z)
  std::vector<double> inverse_q_;        // 1 / q(x) for x < z
  std::int64_t window_ns_ = 0;
  std::int64_t epoch_start_ = 0;
  bool started_ = false;
  std::vector<Slot> current_, previous_;  // depth rows of width counters each
  std::vector<PairWord> pairs_;           // the (source, destination) bitmaps of both epochs, word by word
};

}  // namespace overflowd::policy
