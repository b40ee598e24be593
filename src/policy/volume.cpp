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

constexpr std::uint64_t mix(std::uint64_t x) noexcept {  // the splitmix64 / murmur3 finalizer
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

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
  mask_ = config_.width - 1;
  pair_mask_ = config_.pair_bits - 1;
  window_ns_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(config_.window_s * 1e9));
  current_.assign(config_.width * config_.depth, Slot{});
  previous_.assign(config_.width * config_.depth, Slot{});
  if (config_.sources) pairs_.assign(config_.pair_bits / 64, PairWord{});
  if (config_.sample > 1) {
    const double keep = 1.0 - 1.0 / static_cast<double>(config_.sample);
    log_keep_ = std::log(keep);
    inverse_q_.resize(config_.sample);
    for (std::uint32_t x = 1; x < config_.sample; ++x) inverse_q_[x] = 1.0 / -std::expm1(static_cast<double>(x) * log_keep_);
    gap_ = draw_gap();
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
  const double g = std::floor(std::log(u) / log_keep_);
  return g >= 4e18 ? std::int64_t{4'000'000'000'000'000'000} : static_cast<std::int64_t>(g) + 1;
}

std::uint64_t VolumeSketch::round(double v) noexcept {  // stochastic rounding: unbiased
  if (!(v < 1.8e19)) return UINT64_MAX;
  const double f = std::floor(v);
  const double frac = v - f;
  const double u = static_cast<double>(next_random() >> 11) * 0x1.0p-53;
  return static_cast<std::uint64_t>(f) + (u < frac ? 1 : 0);
}

bool VolumeSketch::selected(std::uint64_t packets, double& weight) noexcept {
  gap_ = draw_gap();  // memoryless: the next selection counts from this flow's end
  weight = inverse_q_[packets];
  return true;
}

std::uint64_t VolumeSketch::key(const core::IpAddress& a) const noexcept {
  std::uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, a.bytes().data(), 8);
  std::memcpy(&lo, a.bytes().data() + 8, 8);
  return mix(((hi ^ key_[0]) * 0x9e3779b97f4a7c15ULL) ^ (lo ^ key_[1]) ^ static_cast<std::uint64_t>(a.family()));
}

namespace {
// Double hashing: row i uses h1 + i x h2 (Kirsch and Mitzenmacher).
struct Columns {
  std::uint32_t h1, h2;
  explicit Columns(std::uint64_t k) noexcept : h1(static_cast<std::uint32_t>(k)), h2(static_cast<std::uint32_t>(k >> 32) | 1u) {}
  [[nodiscard]] std::size_t at(std::size_t row, std::size_t width, std::size_t mask) const noexcept {
    return row * width + ((h1 + static_cast<std::uint32_t>(row) * h2) & mask);
  }
};
}  // namespace

VolumeSketch::Keys VolumeSketch::keys(const core::IpAddress& src, const core::IpAddress& dst) const noexcept {
  Keys k;
  k.dst = key(dst);
  if (config_.sources)
    k.pair = static_cast<std::size_t>(mix(k.dst + 0x9e3779b97f4a7c15ULL * (key(src) ^ key_[2]))) & pair_mask_;
  return k;
}

void VolumeSketch::prefetch(const Keys& k) const noexcept {
  if (config_.sources) __builtin_prefetch(&pairs_[k.pair / 64], 1);
  const Columns c(k.dst);
  for (std::size_t i = 0; i < config_.depth; ++i) __builtin_prefetch(&current_[c.at(i, config_.width, mask_)], 1);
}

void VolumeSketch::advance(std::int64_t now_ns) noexcept {
  if (!started_) {
    started_ = true;
    epoch_start_ = now_ns;
    return;
  }
  if (now_ns < epoch_start_ + window_ns_) return;
  const bool keep_previous = now_ns < epoch_start_ + 2 * window_ns_;
  if (keep_previous) {
    std::swap(current_, previous_);
    epoch_start_ += window_ns_;
  } else {
    std::fill(previous_.begin(), previous_.end(), Slot{});
    epoch_start_ = now_ns;
  }
  std::fill(current_.begin(), current_.end(), Slot{});
  for (PairWord& w : pairs_) {
    w.previous = keep_previous ? w.current : 0;
    w.current = 0;
  }
}

void VolumeSketch::count(const Keys& k, std::uint64_t packets, std::uint64_t bytes, double weight) noexcept {
  bool new_pair = false;
  if (config_.sources) {
    PairWord& w = pairs_[k.pair / 64];
    const std::uint64_t m = std::uint64_t{1} << (k.pair % 64);
    new_pair = ((w.current | w.previous) & m) == 0;
    w.current |= m;
  }
  if (weight != 1) {
    packets = round(static_cast<double>(packets) * weight);
    bytes = round(static_cast<double>(bytes) * weight);
  }
  const Columns col(k.dst);
  Slot* row[8];
  std::uint32_t min_p = UINT32_MAX, min_s = UINT32_MAX;
  std::uint64_t min_b = UINT64_MAX;
  for (std::size_t i = 0; i < config_.depth; ++i) {
    const Slot& s = *(row[i] = &current_[col.at(i, config_.width, mask_)]);
    min_p = std::min(min_p, s.packets);
    min_s = std::min(min_s, s.sources);
    min_b = std::min(min_b, s.bytes);
  }
  // Conservative update: raise each counter only as far as the new minimum needs.
  const std::uint32_t new_p = add32(min_p, packets);
  const std::uint64_t new_b = add64(min_b, bytes);
  const std::uint32_t new_s = add32(min_s, new_pair ? 1 : 0);
  for (std::size_t i = 0; i < config_.depth; ++i) {
    Slot& s = *row[i];
    s.packets = std::max(s.packets, new_p);
    s.bytes = std::max(s.bytes, new_b);
    s.sources = std::max(s.sources, new_s);
  }
}

VolumeEstimate VolumeSketch::estimate(std::uint64_t dst_key, std::int64_t now_ns) const noexcept {
  const Columns col(dst_key);
  std::uint32_t p = UINT32_MAX, s = UINT32_MAX, pp = UINT32_MAX, ps = UINT32_MAX;
  std::uint64_t b = UINT64_MAX, pb = UINT64_MAX;
  for (std::size_t i = 0; i < config_.depth; ++i) {
    const std::size_t at = col.at(i, config_.width, mask_);
    const Slot& c = current_[at];
    const Slot& o = previous_[at];
    p = std::min(p, c.packets);
    s = std::min(s, c.sources);
    b = std::min(b, c.bytes);
    pp = std::min(pp, o.packets);
    ps = std::min(ps, o.sources);
    pb = std::min(pb, o.bytes);
  }
  // The previous epoch's share still inside the window.
  const double into = static_cast<double>(now_ns - epoch_start_) / static_cast<double>(window_ns_);
  const double keep = std::clamp(1.0 - into, 0.0, 1.0);
  const double window_s = config_.window_s;
  VolumeEstimate e;
  e.packets_per_second = (static_cast<double>(p) + keep * static_cast<double>(pp)) / window_s;
  e.bits_per_second = 8.0 * (static_cast<double>(b) + keep * static_cast<double>(pb)) / window_s;
  e.distinct_sources = static_cast<double>(s) + keep * static_cast<double>(ps);
  return e;
}

VolumeEstimate VolumeSketch::add(const core::IpAddress& src, const core::IpAddress& dst, std::uint64_t packets,
                                 std::uint64_t bytes, std::int64_t now_ns) noexcept {
  advance(now_ns);
  const Keys k = keys(src, dst);
  double weight = 1;
  if (take(packets, weight)) count(k, packets, bytes, weight);
  return estimate(k.dst, now_ns);
}

std::size_t VolumeSketch::memory_bytes() const noexcept {
  return (current_.capacity() + previous_.capacity()) * sizeof(Slot) + pairs_.capacity() * sizeof(PairWord) +
         inverse_q_.capacity() * sizeof(double);
}

}  // namespace overflowd::policy
