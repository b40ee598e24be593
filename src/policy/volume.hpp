// Per-destination volume over a sliding window in bounded memory: packets, bytes and distinct
// sources per destination address, estimated by a count-min sketch (conservative update) rather
// than a map, so a flood to a million destinations costs exactly the memory of a flood to one.
//
// Layout (issue 16's speed): `depth` rows of `width` counters for each measure a rule uses
// (packets, 4 bytes; bytes, 8 bytes, only with a dst_bps rule; distinct sources, 4 bytes), each
// measure in its own array so that a policy touches only the counters it reads (a dst_pps policy:
// 64 KiB an epoch at the defaults, which stays in the cache). A destination is hashed once (one
// keyed hash) and row i takes column h1 + i x h2 (Kirsch and Mitzenmacher's double hashing), so a
// flow counted for its packets costs `depth` cache lines a measure, prefetched a batch ahead (Policy::observe_batch
// counts a datagram's flows at the next one). (One line for all rows was tried: a heavy
// destination then shares all its counters with a sixth of the keys of its line, false positives
// a test saw.) The previous epoch's counters live in arrays of the same shape that only estimate()
// reads, so counting touches current counters alone, and estimating is done only for the few flows
// whose rules run.
// Sampled counting: with `sample` = z > 1, a flow of x < z packets (after the sampling interval)
// is counted with probability q(x) = 1 - (1 - 1/z)^x (a packet-level Bernoulli(1/z) selection run
// as a geometric countdown: one subtraction per flow (select_packets), the geometric gaps drawn
// ahead, off the countdown's chain) and weighted by 1 / q(x) (stochastic
// rounding), a flow of z packets or more always, exactly. The estimate is unbiased with a variance below
// z x (its total): the policy picks z so that the standard error at the smallest volume threshold
// is at most 1 % (Policy::build), and z = 1 (every flow counted, count-min exact as before) when a
// threshold is small. Without a `dst_pps` or `dst_bps` rule (`packets` false) packets and bytes are
// not counted at all.
//
// Distinct sources: a bitmap of (source, destination) pairs seen in the window (kept only when
// `sources`); a pair's first sighting adds one to its destination's sources counter. Pairs are
// sampled by a keyed hash of the pair (distinct sampling, `source_sample` = k): a pair is counted
// with probability 1/k, every flow of it alike, and the estimate is k x the count: unbiased, with a
// variance of n x (k - 1) for n sources (the policy picks k so that the standard error at the
// smallest `dst_sources` threshold is at most 3 %; k = 1 below 1,111 sources). Only the sampled
// pairs (1 in k flows of distinct pairs) touch the bitmap (one word, prefetched a batch ahead),
// and only those new to the window their destination's counters; the others cost one hash (one
// 64 x 64 -> 128-bit multiplication, select_pairs, without a branch). The count undercounts once
// the bitmap fills: a new pair whose bit another pair set is taken as seen, so with B bits set
// (at most the sampled distinct pairs of the two epochs, about n / k) each new pair is missed
// with probability B / pair_bits, and the estimate is, in expectation, at least
// (1 - B / pair_bits) of the sources: it says "at least" about that many.
//
// The window slides: two epochs of `window` each, the current one and the one before; an estimate
// is current + previous x (the part of the previous epoch still inside the window). Count-min
// never undercounts a destination's packets or bytes when z = 1; it may overcount when
// destinations share counters (rare with a wide sketch). Counters saturate: packets and sources at
// 2^32 - 1 per epoch (Policy::build refuses a threshold that could not be reached), bytes at 2^64 - 1.
// The hashes are keyed multiply-xor mixes with keys drawn per run (they run for every flow, and
// the keys are never seen outside, so an outsider cannot aim collisions).
//
// Pure: the caller passes the time (monotonic nanoseconds). Not thread-safe: one per worker.
#pragma once

#include <array>
#include <bit>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/flow_record.hpp"
#include "core/ip_address.hpp"

namespace overflowd::policy {

struct VolumeConfig {
  double window_s = 10;            // > 0
  std::size_t width = 8192;        // counters per row (rounded up to a power of two)
  std::size_t depth = 2;           // rows, 1..8
  std::size_t pair_bits = 1 << 22; // the (source, destination) bitmap, bits (rounded up to a power of two)
  std::uint32_t sample = 1;        // z: flows under z packets are counted with probability ~x/z (1: all)
  bool sources = true;             // keep the pair bitmap (distinct sources)
  bool packets = true;             // count packets (false: no rule uses them)
  bool bytes = true;               // ... and bytes (false: no dst_bps rule)
  std::uint32_t source_sample = 1; // k: a (source, destination) pair is counted with probability 1/k
};

struct VolumeEstimate {
  double packets_per_second = 0;
  double bits_per_second = 0;
  double distinct_sources = 0;
};

// One cache line into L1. g++ -O2 deletes a loop whose body is only __builtin_prefetch (no side
// effects), as the rows' prefetch loop is: on x86 the instruction is written out so that it stays.
inline void prefetch_line(const void* p) noexcept {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

class VolumeSketch {
public:
  explicit VolumeSketch(const VolumeConfig& config);

  // Counts one flow (packets and bytes already scaled by the sampling interval; sampled as the
  // config says) and returns its destination's estimate including it.
  VolumeEstimate add(const core::IpAddress& src, const core::IpAddress& dst, std::uint64_t packets,
                     std::uint64_t bytes, std::int64_t now_ns) noexcept;

  // The parts of add() for a batch: advance(now) once; for each flow take() decides whether its
  // packets are counted (and their weight) and pair() whether its pair is; key() and prefetch() for
  // the flows counted either way; then count() each.
  struct Keys {
    std::uint64_t dst = 0;   // the destination's hash
    std::size_t pair = 0;    // the (source, destination) pair's bit (when `source`)
    bool packets = false;    // count the flow's packets and bytes
    bool source = false;     // count the pair (a sampled pair: the bitmap says whether it is new)
  };
  void advance(std::int64_t now_ns) noexcept;
  [[nodiscard]] bool take(std::uint64_t packets, double& weight) noexcept {
    weight = 1;
    if (!config_.packets || packets == 0) return false;  // nothing to add
    if (packets >= config_.sample) return true;
    gap_ -= static_cast<std::int64_t>(packets);
    return gap_ > 0 ? false : selected(packets, weight);
  }
  // take() and pair() over a batch (select_pairs without a branch per flow: a sampled pair is
  // 1 in k, unpredictable; select_packets with two rarely taken ones). Each writes the
  // indices of the flows selected to `index` (room for n) and returns how many; select_packets the
  // flows whose packets are counted (weight(): their weight), select_pairs the flows whose pair is
  // sampled (`bits`, room for n: each one's bit). The countdown's next gaps are drawn ahead, a
  // chunk at a time (draws off the countdown's chain), from the same geometric distribution.
  std::size_t select_packets(const core::FlowRecord* flows, std::size_t n, std::uint32_t* index) noexcept;
  std::size_t select_pairs(const core::FlowRecord* flows, std::size_t n, std::uint32_t* index,
                           std::uint32_t* bits) const noexcept;
  // The weight of a flow of x packets (scaled) that select_packets() selected.
  [[nodiscard]] double weight(std::uint64_t packets) const noexcept {
    return packets < config_.sample ? inverse_q_[packets] : 1.0;
  }
  // Whether the pair is among the sampled ones (always false without `sources`), and its bit.
  [[nodiscard]] bool pair(const core::IpAddress& src, const core::IpAddress& dst, std::size_t& bit) const noexcept {
    if (!config_.sources) return false;
    const std::uint64_t h = pair_hash(src, dst);
    bit = static_cast<std::size_t>(h) & pair_mask_;
    return h <= pair_cut_;
  }
  [[nodiscard]] std::uint64_t key(const core::IpAddress& dst) const noexcept {
    std::uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, dst.bytes().data(), 8);
    std::memcpy(&lo, dst.bytes().data() + 8, 8);
    return mix(((hi ^ key_[0]) * 0x9e3779b97f4a7c15ULL) ^ (lo ^ key_[1]) ^ static_cast<std::uint64_t>(dst.family()));
  }
  void prefetch(const Keys& k) const noexcept {
    const Columns c(k.dst);
    // A sampled pair: its bitmap word only, as a pair the window has seen (most, but in a flood
    // of new sources) costs no more; a new one's destination counters are read when it is counted.
    if (k.source) prefetch_line(&pairs_[k.pair / 64]);
    if (k.packets)
      for (std::size_t i = 0; i < config_.depth; ++i) {
        const std::size_t at = c.at(i, config_.width, mask_);
        prefetch_line(&packets_[at]);
        if (!bytes_.empty()) prefetch_line(&bytes_[at]);
      }
  }
  void count(const Keys& k, std::uint64_t packets, std::uint64_t bytes, double weight) noexcept;
  // The destination's volume over the window ending at now_ns (which advance() has seen).
  [[nodiscard]] VolumeEstimate estimate(std::uint64_t dst_key, std::int64_t now_ns) const noexcept;

  [[nodiscard]] std::size_t memory_bytes() const noexcept;
  [[nodiscard]] const VolumeConfig& config() const noexcept { return config_; }

private:
  struct PairWord {
    std::uint64_t current = 0, previous = 0;
  };
  // Double hashing: row i uses column h1 + i x h2 (Kirsch and Mitzenmacher).
  struct Columns {
    std::uint32_t h1, h2;
    explicit Columns(std::uint64_t k) noexcept
        : h1(static_cast<std::uint32_t>(k)), h2(static_cast<std::uint32_t>(k >> 32) | 1u) {}
    [[nodiscard]] std::size_t at(std::size_t row, std::size_t width, std::size_t mask) const noexcept {
      return row * width + ((h1 + static_cast<std::uint32_t>(row) * h2) & mask);
    }
  };
  static constexpr std::uint64_t mix(std::uint64_t x) noexcept {  // the splitmix64 / murmur3 finalizer
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
  }
  [[nodiscard]] std::uint64_t pair_hash(const core::IpAddress& src, const core::IpAddress& dst) const noexcept {
    // The pair folded to 128 bits (the destination's halves rotated by 32: injective for IPv4
    // pairs, whose addresses sit in the first 4 bytes), each half keyed, then multiplied into 128
    // bits whose halves are xored (wyhash's "mum"): one multiplication a flow, every bit of the
    // product's halves depending on every bit of both words.
    std::uint64_t s_hi = 0, s_lo = 0, d_hi = 0, d_lo = 0;
    std::memcpy(&s_hi, src.bytes().data(), 8);
    std::memcpy(&s_lo, src.bytes().data() + 8, 8);
    std::memcpy(&d_hi, dst.bytes().data(), 8);
    std::memcpy(&d_lo, dst.bytes().data() + 8, 8);
    const std::uint64_t hi = s_hi ^ std::rotl(d_hi, 32) ^ key_[2];
    const std::uint64_t lo = s_lo ^ std::rotl(d_lo, 32) ^ key_[3] ^
                             (static_cast<std::uint64_t>(src.family()) << 8 | static_cast<std::uint64_t>(dst.family()));
    __extension__ using u128 = unsigned __int128;
    const u128 product = static_cast<u128>(hi) * (lo | 1);  // odd: the low half a bijection of hi
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
  }
  [[nodiscard]] bool selected(std::uint64_t packets, double& weight) noexcept;
  [[nodiscard]] std::uint64_t next_random() noexcept;
  [[nodiscard]] std::int64_t draw_gap() noexcept;
  [[nodiscard]] static std::uint64_t round(double v, double u) noexcept;

  VolumeConfig config_;
  std::size_t mask_ = 0;
  std::size_t pair_mask_ = 0;
  std::uint64_t pair_cut_ = UINT64_MAX;  // a pair is sampled when its hash is at most this (2^64 / k)
  double source_scale_ = 1;              // k
  std::array<std::uint64_t, 4> key_{};
  std::uint64_t rng_ = 0;
  std::int64_t gap_ = 0;                 // packets until the next selected one (sample > 1)
  static constexpr std::size_t kAhead = 64;
  std::array<std::int64_t, kAhead> ahead_{};  // select_packets(): the next gaps, drawn ahead
  std::uint64_t ahead_spent_ = 0;        // bit j: ahead_[j] was spent (drawn again before use)
  double inverse_log_keep_ = 0;          // 1 / log(1 - 1/z)
  std::vector<double> inverse_q_;        // 1 / q(x) for x < z
  std::int64_t window_ns_ = 0;
  std::int64_t epoch_start_ = 0;
  bool started_ = false;
  // depth rows of width counters each, this epoch's and the previous one's; each kept only when a
  // rule uses it
  std::vector<std::uint32_t> packets_, previous_packets_;
  std::vector<std::uint64_t> bytes_, previous_bytes_;
  std::vector<std::uint32_t> sources_, previous_sources_;
  std::vector<PairWord> pairs_;           // the sampled pairs' bitmaps of both epochs, word by word
};

}  // namespace overflowd::policy
