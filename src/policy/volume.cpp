#include "policy/volume.hpp"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/sodium.hpp"

namespace overflowd::policy {

namespace {
std::size_t pow2(std::size_t n, std::size_t min) { return std::bit_ceil(std::max(n, min)); }

constexpr std::uint32_t add32(std::uint32_t a, std::uint64_t b) noexcept {
  const std::uint64_t s = std::uint64_t{a} + b;
  return s < b || s > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(s);
}
constexpr std::uint64_t add64(std::uint64_t a, std::uint64_t b) noexcept { return a + b < a ? UINT64_MAX : a + b; }
}  // namespace

VolumeSketch::VolumeSketch(const VolumeConfig& config) : config_(config) {
  core::init_sodium();
  randombytes_buf(key_.data(), sizeof key_);
  randombytes_buf(&rng_, sizeof rng_);
  config_.width = pow2(config_.width, 64);
  config_.depth = std::clamp<std::size_t>(config_.depth, 1, 8);
  config_.pair_bits = pow2(config_.pair_bits, 4096);
  config_.sample = std::max<std::uint32_t>(config_.sample, 1);
  config_.source_sample = std::max<std::uint32_t>(config_.source_sample, 1);
  pair_cut_ = UINT64_MAX / config_.source_sample;
  source_scale_ = static_cast<double>(config_.source_sample);
  mask_ = config_.width - 1;
  // The bitmap holds the sampled pairs, 1 in k: pair_bits / k bits fill as pair_bits would with
  // every pair (the same undercount) in 1/k of the memory.
  const std::size_t pair_bits = pow2(config_.pair_bits / config_.source_sample, 4096);
  pair_mask_ = pair_bits - 1;
  window_ns_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(config_.window_s * 1e9));
  if (config_.packets) {
    packets_.assign(config_.width * config_.depth, 0);
    previous_packets_.assign(config_.width * config_.depth, 0);
    if (config_.bytes) {
      bytes_.assign(config_.width * config_.depth, 0);
      previous_bytes_.assign(config_.width * config_.depth, 0);
    }
  }
  if (config_.sources) {
    sources_.assign(config_.width * config_.depth, 0);
    previous_sources_.assign(config_.width * config_.depth, 0);
    pairs_.assign(pair_bits / 64, PairWord{});
  }
  if (config_.packets && config_.sample > 1) {
    const double keep = 1.0 - 1.0 / static_cast<double>(config_.sample);
    const double log_keep = std::log(keep);
    inverse_log_keep_ = 1.0 / log_keep;
    inverse_q_.resize(config_.sample);
    for (std::uint32_t x = 1; x < config_.sample; ++x) inverse_q_[x] = 1.0 / -std::expm1(static_cast<double>(x) * log_keep);
    gap_ = draw_gap();
    for (auto& g : ahead_) g = draw_gap();
  }
}

std::uint64_t VolumeSketch::next_random() noexcept {  // splitmix64, seeded from the kernel
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::int64_t VolumeSketch::draw_gap() noexcept {
  // Geometric(1/z) >= 1: the packets up to and including the next selected one.
  const double u = static_cast<double>((next_random() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
  // log(u) <= 0 and 1 / log(1 - 1/z) < 0: g >= 0, whose floor is its truncation (a conversion,
  // not a call to libm's floor, which x86-64 without SSE4.1 does not inline).
  const double g = std::log(u) * inverse_log_keep_;
  return g >= 4e18 ? std::int64_t{4'000'000'000'000'000'000} : static_cast<std::int64_t>(g) + 1;
}

std::uint64_t VolumeSketch::round(double v, double u) noexcept {  // stochastic rounding, u in [0, 1): unbiased
  // v >= 0 (packets or bytes times a weight >= 1): its floor is its truncation. Below 2^63 through
  // a signed conversion (one instruction); above, exactly as before.
  if (v < 0x1p63) {
    const auto f = static_cast<std::int64_t>(v);
    return static_cast<std::uint64_t>(f) + (u < v - static_cast<double>(f) ? 1 : 0);
  }
  if (!(v < 1.8e19)) return UINT64_MAX;
  const double f = std::floor(v);
  return static_cast<std::uint64_t>(f) + (u < v - f ? 1 : 0);
}

bool VolumeSketch::selected(std::uint64_t packets, double& weight) noexcept {
  gap_ = draw_gap();  // memoryless: the next selection counts from this flow's end
  weight = inverse_q_[packets];
  return true;
}

void VolumeSketch::redraw_spent() noexcept {
  for (std::uint64_t spent = ahead_spent_; spent != 0; spent &= spent - 1)
    ahead_[static_cast<std::size_t>(std::countr_zero(spent))] = draw_gap();
  ahead_spent_ = 0;
}

void VolumeSketch::turn(std::int64_t now_ns) noexcept {
  if (!started_) {
    started_ = true;
    epoch_start_ = now_ns;
    return;
  }
  if (now_ns < epoch_start_ + window_ns_) return;
  const bool keep_previous = now_ns < epoch_start_ + 2 * window_ns_;
  if (keep_previous) {
    std::swap(packets_, previous_packets_);
    std::swap(bytes_, previous_bytes_);
    std::swap(sources_, previous_sources_);
    epoch_start_ += window_ns_;
  } else {
    std::fill(previous_packets_.begin(), previous_packets_.end(), 0);
    std::fill(previous_bytes_.begin(), previous_bytes_.end(), 0);
    std::fill(previous_sources_.begin(), previous_sources_.end(), 0);
    epoch_start_ = now_ns;
  }
  std::fill(packets_.begin(), packets_.end(), 0);
  std::fill(bytes_.begin(), bytes_.end(), 0);
  std::fill(sources_.begin(), sources_.end(), 0);
  for (PairWord& w : pairs_) {
    w.previous = keep_previous ? w.current : 0;
    w.current = 0;
  }
}

// count_pair() and count_packets() copy the shape and the arrays' addresses into locals first: a
// store to a counter may alias a member of the same type, so they would be loaded again each row.
void VolumeSketch::count_pair(std::uint64_t dst, std::size_t bit) noexcept {
  if (sources_.empty()) return;
  // A sampled pair the window has seen (most of them) touches its bitmap word only.
  PairWord& w = pairs_[bit / 64];
  const std::uint64_t m = std::uint64_t{1} << (bit % 64);
  const bool new_pair = ((w.current | w.previous) & m) == 0;
  w.current |= m;
  if (!new_pair) return;
  const Columns col(dst);
  const std::size_t depth = config_.depth, width = config_.width, mask = mask_;
  std::uint32_t* const sources = sources_.data();
  std::size_t at[8];
  for (std::size_t i = 0; i < depth; ++i) at[i] = col.at(i, width, mask);
  // Conservative update: raise each counter only as far as the new minimum needs.
  std::uint32_t min_s = UINT32_MAX;
  for (std::size_t i = 0; i < depth; ++i) min_s = std::min(min_s, sources[at[i]]);
  const std::uint32_t new_s = add32(min_s, 1);
  for (std::size_t i = 0; i < depth; ++i) sources[at[i]] = std::max(sources[at[i]], new_s);
}

void VolumeSketch::count_packets(std::uint64_t dst, std::uint64_t packets, std::uint64_t bytes, double weight) noexcept {
  if (packets_.empty()) return;
  if (weight != 1) {
    // Stochastic rounding of both with one draw: each stays unbiased.
    const double u = static_cast<double>(next_random() >> 11) * 0x1.0p-53;
    packets = round(static_cast<double>(packets) * weight, u);
    if (!bytes_.empty()) bytes = round(static_cast<double>(bytes) * weight, u);
  }
  const Columns col(dst);
  const std::size_t depth = config_.depth, width = config_.width, mask = mask_;
  std::uint32_t* const counts = packets_.data();
  if (depth == 2 && bytes_.empty()) {  // the default shape of a dst_pps policy, without the loops
    std::uint32_t& a = counts[col.at(0, width, mask)];
    std::uint32_t& b = counts[col.at(1, width, mask)];
    const std::uint32_t new_p = add32(std::min(a, b), packets);
    a = std::max(a, new_p);
    b = std::max(b, new_p);
    return;
  }
  std::size_t at[8];
  for (std::size_t i = 0; i < depth; ++i) at[i] = col.at(i, width, mask);
  // Conservative update: raise each counter only as far as the new minimum needs.
  std::uint32_t min_p = UINT32_MAX;
  for (std::size_t i = 0; i < depth; ++i) min_p = std::min(min_p, counts[at[i]]);
  const std::uint32_t new_p = add32(min_p, packets);
  for (std::size_t i = 0; i < depth; ++i) counts[at[i]] = std::max(counts[at[i]], new_p);
  if (!bytes_.empty()) {
    std::uint64_t* const b = bytes_.data();
    std::uint64_t min_b = UINT64_MAX;
    for (std::size_t i = 0; i < depth; ++i) min_b = std::min(min_b, b[at[i]]);
    const std::uint64_t new_b = add64(min_b, bytes);
    for (std::size_t i = 0; i < depth; ++i) b[at[i]] = std::max(b[at[i]], new_b);
  }
}

VolumeEstimate VolumeSketch::estimate(std::uint64_t dst_key, std::int64_t now_ns) const noexcept {
  const Columns col(dst_key);
  std::uint32_t p = UINT32_MAX, s = UINT32_MAX, pp = UINT32_MAX, ps = UINT32_MAX;
  std::uint64_t b = UINT64_MAX, pb = UINT64_MAX;
  for (std::size_t i = 0; i < config_.depth; ++i) {
    const std::size_t at = col.at(i, config_.width, mask_);
    if (!packets_.empty()) {
      p = std::min(p, packets_[at]);
      pp = std::min(pp, previous_packets_[at]);
    }
    if (!bytes_.empty()) {
      b = std::min(b, bytes_[at]);
      pb = std::min(pb, previous_bytes_[at]);
    }
    if (!sources_.empty()) {
      s = std::min(s, sources_[at]);
      ps = std::min(ps, previous_sources_[at]);
    }
  }
  if (packets_.empty()) p = pp = 0;
  if (bytes_.empty()) b = pb = 0;
  if (sources_.empty()) s = ps = 0;
  // The previous epoch's share still inside the window.
  const double into = static_cast<double>(now_ns - epoch_start_) / static_cast<double>(window_ns_);
  const double keep = std::clamp(1.0 - into, 0.0, 1.0);
  const double window_s = config_.window_s;
  VolumeEstimate e;
  e.packets_per_second = (static_cast<double>(p) + keep * static_cast<double>(pp)) / window_s;
  e.bits_per_second = 8.0 * (static_cast<double>(b) + keep * static_cast<double>(pb)) / window_s;
  e.distinct_sources = source_scale_ * (static_cast<double>(s) + keep * static_cast<double>(ps));
  return e;
}

VolumeEstimate VolumeSketch::add(const core::IpAddress& src, const core::IpAddress& dst, std::uint64_t packets,
                                 std::uint64_t bytes, std::int64_t now_ns) noexcept {
  advance(now_ns);
  Keys k;
  double weight = 1;
  k.packets = take(packets, weight);
  k.source = pair(src, dst, k.pair);
  k.dst = key(dst);
  if (k.packets || k.source) count(k, packets, bytes, weight);
  return estimate(k.dst, now_ns);
}

std::size_t VolumeSketch::memory_bytes() const noexcept {
  return (packets_.capacity() + previous_packets_.capacity() + sources_.capacity() + previous_sources_.capacity()) *
             sizeof(std::uint32_t) +
         (bytes_.capacity() + previous_bytes_.capacity()) * sizeof(std::uint64_t) +
         pairs_.capacity() * sizeof(PairWord) + inverse_q_.capacity() * sizeof(double);
}

}  // namespace overflowd::policy
