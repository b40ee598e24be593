// Per-destination volume over a sliding window in bounded memory: packets, bytes and distinct
// sources per destination address, estimated by a count-min sketch (conservative update) rather
// than a map, so a flood to a million destinations costs exactly the memory of a flood to one.
//
// Layout (issue 16's speed): `depth` rows of `width` counters for each measure a rule uses
// (packets, 4 bytes; bytes, 8 bytes, only with a dst_bps rule; distinct sources, 4 bytes), each
// measure in its own array so that a policy touches only the counters it reads (a dst_pps policy:
// 64 KiB an epoch at the defaults, which stays in the cache). A destination is hashed once (one
// keyed hash) and row i takes column h1 + i x h2 (Kirsch and Mitzenmacher's double hashing), so a
// flow counted for its packets costs `depth` cache lines a measure, prefetched a batch ahead (a BatchObserver
// counts a datagram's flows at the next one). (One line for all rows was tried: a heavy
// destination then shares all its counters with a sixth of the keys of its line, false positives
// a test saw.) The previous epoch's counters live in arrays of the same shape that only estimate()
// reads, so counting touches current counters alone, and estimating is done only for the few flows
// whose rules run. Counting is count_packets() and count_pair() apart (the batch knows which it
// took each flow for), the shape copied into locals (a counter store may alias a member of the
// same type) and depth 2 without bytes (a dst_pps policy) without loops.
// Sampled counting: with `sample` = z > 1, a flow of x < z packets (after the sampling interval)
// is counted with probability q(x) = 1 - (1 - 1/z)^x (a packet-level Bernoulli(1/z) selection run
// as a geometric countdown: one subtraction per flow (Selector::add), the geometric gaps drawn
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
// 64 x 64 -> 128-bit multiplication, Selector::add, without a branch). The count undercounts once
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
  void advance(std::int64_t now_ns) noexcept {
    if (started_ && now_ns < epoch_start_ + window_ns_) [[likely]] return;  // once a batch: no call
    turn(now_ns);
  }
  [[nodiscard]] bool take(std::uint64_t packets, double& weight) noexcept {
    weight = 1;
    if (!config_.packets || packets == 0) return false;  // nothing to add
    if (packets >= config_.sample) return true;
    gap_ -= static_cast<std::int64_t>(packets);
    return gap_ > 0 ? false : selected(packets, weight);
  }
  // take() and pair() over a batch, flow by flow inside the caller's own loop over it (the
  // sampler's, where each flow's fields are already loaded, so the volume costs no second pass): a
  // Selector is made from begin_selection() before the batch's first flow, add(flow, i) is called
  // for each in order, then taken() and paired() say how many flows were selected each way (their
  // indices written to `packets` and `pairs`, the sampled pairs' bits to `bits`, room for the batch
  // each) and end_selection() takes the countdown's state back. The packets' countdown is take()'s:
  // a flow of z packets or more is taken (exactly, and the countdown skips it); a smaller one
  // subtracts its packets and is taken when that reaches 0, the countdown then restarting
  // (memoryless: from this flow's end) from a gap drawn ahead for its position in the batch
  // (modulo kAhead), drawn before the batch: whether a flow hits depends only on the gaps of
  // earlier positions, so the gaps used are independent geometric draws, as take()'s are, and a
  // hit costs a load, not a logarithm, on the countdown's chain (a position hit twice in one batch
  // draws afresh; the spent ones are drawn again by the next begin_selection()). A branch-free countdown was tried: more instructions a flow, no
  // faster than the two rarely taken branches. The pair sample is taken without a branch (1 in k,
  // unpredictable). The Selector holds values only (no out-of-line call takes its address), so
  // that the compiler can keep its state in registers across the caller's loop.
  class Selector {
  public:
    Selector() noexcept = default;  // selects nothing
    void add(const core::FlowRecord& f, std::uint32_t i) noexcept {
      if (z_ != 0) {  // counting packets
        const std::uint64_t x = f.pcount * f.sampling_interval;  // >= 1 from every decoder (FlowRecord)
        if (x >= z_) [[unlikely]] {  // z >= 1: x != 0
          packets_[taken_++] = i;
        } else {
          gap_ -= static_cast<std::int64_t>(x);
          if (gap_ <= 0) [[unlikely]] hit(i);
        }
      }
      if (count_pairs_) {
        const std::uint64_t h = pair_hash(key_hi_, key_lo_, f.src, f.dst);
        pairs_[paired_] = i;
        bits_[paired_] = static_cast<std::uint32_t>(h & pair_mask_);
        paired_ += h <= pair_cut_;
      }
    }
    [[nodiscard]] bool active() const noexcept { return z_ != 0 || count_pairs_; }
    [[nodiscard]] std::size_t taken() const noexcept { return taken_; }
    [[nodiscard]] std::size_t paired() const noexcept { return paired_; }
    [[nodiscard]] std::int64_t gap() const noexcept { return gap_; }
    [[nodiscard]] std::uint64_t spent() const noexcept { return spent_; }

  private:
    friend class VolumeSketch;  // begin_selection() makes one in place (no copy of a start state)
    Selector(VolumeSketch* v, std::uint32_t* packets, std::uint32_t* pairs, std::uint32_t* bits, std::uint64_t z,
             std::uint64_t pair_mask, std::uint64_t pair_cut, std::uint64_t key_hi, std::uint64_t key_lo,
             std::int64_t gap, bool count_pairs) noexcept  // z = 0: packets not counted
        : v_(v), packets_(packets), pairs_(pairs), bits_(bits), z_(z), pair_mask_(pair_mask), pair_cut_(pair_cut),
          key_hi_(key_hi), key_lo_(key_lo), gap_(gap), count_pairs_(count_pairs) {}
    void hit(std::uint32_t i) noexcept {
      packets_[taken_++] = i;
      const std::uint64_t bit = std::uint64_t{1} << (i % kAhead);
      if (spent_ & bit) [[unlikely]] {
        gap_ = v_->draw_gap();
      } else {
        gap_ = v_->ahead_[i % kAhead];
        spent_ |= bit;
      }
    }
    VolumeSketch* v_ = nullptr;
    std::uint32_t* packets_ = nullptr;
    std::uint32_t* pairs_ = nullptr;
    std::uint32_t* bits_ = nullptr;
    // z, the packets a flow needs to be taken whole; 0 when packets are not counted (no flag of
    // its own: one loop-invariant value fewer in the caller's loop, which has few registers).
    std::uint64_t z_ = 0, pair_mask_ = 0, pair_cut_ = 0, key_hi_ = 0, key_lo_ = 0;
    std::int64_t gap_ = 1;
    std::uint64_t spent_ = 0;
    std::size_t taken_ = 0, paired_ = 0;
    bool count_pairs_ = false;
  };
  // A Selector for a batch, its selections written to `packets`, `pairs` and `bits` (room for the
  // batch each): the gaps spent in the last batch drawn again (off the countdown's chain).
  [[nodiscard]] Selector begin_selection(std::uint32_t* packets, std::uint32_t* pairs, std::uint32_t* bits) noexcept {
    const bool sampled = config_.packets && config_.sample > 1;
    if (ahead_spent_ != 0) redraw_spent();  // a call only when a gap was spent
    return Selector(this, packets, pairs, bits, config_.packets ? config_.sample : 0, pair_mask_, pair_cut_, key_[2],
                    key_[3], sampled ? gap_ : 1, config_.sources);  // sample >= 1 (the constructor)
  }
  // The countdown's state at the batch's end, back to the sketch.
  void end_selection(std::int64_t gap, std::uint64_t spent) noexcept {
    if (config_.packets && config_.sample > 1) {
      gap_ = gap;
      ahead_spent_ = spent;
    }
  }
  // The weight of a flow of x packets (scaled) that a Selector took.
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
    // A sampled pair: its bitmap word only, as a pair the window has seen (most, but in a flood
    // of new sources) costs no more; a new one's destination counters are read when it is counted.
    if (k.source) prefetch_pair(k.pair);
    if (k.packets) prefetch_packets(k.dst);
  }
  void prefetch_pair(std::size_t bit) const noexcept { prefetch_line(&pairs_[bit / 64]); }
  void prefetch_packets(std::uint64_t dst) const noexcept {
    const Columns c(dst);
    const std::size_t depth = config_.depth, width = config_.width, mask = mask_;
    const std::uint32_t* const counts = packets_.data();
    const std::uint64_t* const bytes = bytes_.empty() ? nullptr : bytes_.data();
    for (std::size_t i = 0; i < depth; ++i) {
      const std::size_t at = c.at(i, width, mask);
      prefetch_line(&counts[at]);
      if (bytes) prefetch_line(&bytes[at]);
    }
  }
  // count() = count_pair() (when k.source) then count_packets() (when k.packets): the batch's
  // pipeline calls each alone, with no Keys to build or test.
  void count(const Keys& k, std::uint64_t packets, std::uint64_t bytes, double weight) noexcept {
    if (k.source) count_pair(k.dst, k.pair);
    if (k.packets) count_packets(k.dst, packets, bytes, weight);
  }
  // A sampled pair (`sources`): its bit set; a pair new to the window adds one to its destination's sources.
  void count_pair(std::uint64_t dst, std::size_t bit) noexcept;
  // A flow taken for its packets (`packets`): packets and bytes x weight (stochastically rounded) added.
  void count_packets(std::uint64_t dst, std::uint64_t packets, std::uint64_t bytes, double weight) noexcept;
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
    return pair_hash(key_[2], key_[3], src, dst);
  }
  static std::uint64_t pair_hash(std::uint64_t key_hi, std::uint64_t key_lo, const core::IpAddress& src,
                                 const core::IpAddress& dst) noexcept {
    // The pair folded to 128 bits (the destination's halves rotated by 32: injective for IPv4
    // pairs, whose addresses sit in the first 4 bytes), each half keyed, then multiplied into 128
    // bits whose halves are xored (wyhash's "mum"): one multiplication a flow, every bit of the
    // product's halves depending on every bit of both words.
    __extension__ using u128 = unsigned __int128;
    if (src.is_v4() && dst.is_v4()) [[likely]] {
      // Bytes 4 to 15 of an IPv4 address are 0: the same hash as below, in two loads (no rotation).
      std::uint32_t s = 0, d = 0;
      std::memcpy(&s, src.bytes().data(), 4);
      std::memcpy(&d, dst.bytes().data(), 4);
      const std::uint64_t hi = (std::uint64_t{s} | std::uint64_t{d} << 32) ^ key_hi;
      const std::uint64_t lo = key_lo ^ (std::uint64_t{4} << 8 | 4);
      const u128 product = static_cast<u128>(hi) * (lo | 1);
      return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
    }
    std::uint64_t s_hi = 0, s_lo = 0, d_hi = 0, d_lo = 0;
    std::memcpy(&s_hi, src.bytes().data(), 8);
    std::memcpy(&s_lo, src.bytes().data() + 8, 8);
    std::memcpy(&d_hi, dst.bytes().data(), 8);
    std::memcpy(&d_lo, dst.bytes().data() + 8, 8);
    const std::uint64_t hi = s_hi ^ std::rotl(d_hi, 32) ^ key_hi;
    const std::uint64_t lo = s_lo ^ std::rotl(d_lo, 32) ^ key_lo ^
                             (static_cast<std::uint64_t>(src.family()) << 8 | static_cast<std::uint64_t>(dst.family()));
    const u128 product = static_cast<u128>(hi) * (lo | 1);  // odd: the low half a bijection of hi
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
  }
  void turn(std::int64_t now_ns) noexcept;
  void redraw_spent() noexcept;  // begin_selection(): the gaps spent in the last batch drawn again  // advance(): the first time, or a new epoch
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
  std::array<std::int64_t, kAhead> ahead_{};  // Selector: the next gaps, drawn ahead
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
