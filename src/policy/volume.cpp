#include "policy/volume.hpp"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstring>

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
}  // namespace

VolumeSketch::VolumeSketch(const VolumeConfig& config) : config_(config) {
  core::init_sodium();
  randombytes_buf(key_.data(), sizeof key_);
  config_.width = pow2(config_.width, 64);
  config_.depth = std::clamp<std::size_t>(config_.depth, 1, 8);
  config_.pair_bits = pow2(config_.pair_bits, 4096);
  mask_ = config_.width - 1;
  pair_mask_ = config_.pair_bits - 1;
  window_ns_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(config_.window_s * 1e9));
  cells_.assign(config_.width * config_.depth, Cell{});
  pairs_.assign(config_.pair_bits / 64, PairWord{});
}

std::uint64_t VolumeSketch::hash(const core::IpAddress& a, std::uint64_t salt) const noexcept {
  std::uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, a.bytes().data(), 8);
  std::memcpy(&lo, a.bytes().data() + 8, 8);
  return mix(mix(hi ^ key_[0] ^ salt) + (lo ^ key_[1]) + static_cast<std::uint64_t>(a.family()));
}

void VolumeSketch::prefetch(const core::IpAddress& src, const core::IpAddress& dst) const noexcept {
  const std::uint64_t h = hash(dst, 0);
  const std::uint64_t pair = mix(h ^ hash(src, key_[2]));
  __builtin_prefetch(&pairs_[(static_cast<std::size_t>(pair) & pair_mask_) / 64], 1);
  const auto h1 = static_cast<std::uint32_t>(h);
  const auto h2 = static_cast<std::uint32_t>(h >> 32) | 1u;
  for (std::size_t i = 0; i < config_.depth; ++i)
    __builtin_prefetch(&cells_[i * config_.width + ((h1 + static_cast<std::uint32_t>(i) * h2) & mask_)], 1);
}

void VolumeSketch::rotate(bool keep_previous) noexcept {
  for (Cell& c : cells_) {
    c.prev_packets = keep_previous ? c.packets : 0;
    c.prev_bytes = keep_previous ? c.bytes : 0;
    c.prev_sources = keep_previous ? c.sources : 0;
    c.packets = c.bytes = 0;
    c.sources = 0;
  }
  for (PairWord& w : pairs_) {
    w.previous = keep_previous ? w.current : 0;
    w.current = 0;
  }
}

void VolumeSketch::advance(std::int64_t now_ns) noexcept {
  if (!started_) {
    started_ = true;
    epoch_start_ = now_ns;
    return;
  }
  if (now_ns < epoch_start_ + window_ns_) return;
  if (now_ns >= epoch_start_ + 2 * window_ns_) {
    rotate(false);
    epoch_start_ = now_ns;
    return;
  }
  rotate(true);
  epoch_start_ += window_ns_;
}

VolumeEstimate VolumeSketch::add(const core::IpAddress& src, const core::IpAddress& dst, std::uint64_t packets,
                                 std::uint64_t bytes, std::int64_t now_ns) noexcept {
  advance(now_ns);
  const std::uint64_t h = hash(dst, 0);
  const std::uint64_t pair = mix(h ^ hash(src, key_[2]));
  const bool new_pair = [&] {
    const std::size_t bit = static_cast<std::size_t>(pair) & pair_mask_;
    PairWord& w = pairs_[bit / 64];
    const std::uint64_t m = std::uint64_t{1} << (bit % 64);
    const bool seen = ((w.current | w.previous) & m) != 0;
    w.current |= m;
    return !seen;
  }();

  // Double hashing: row i uses h1 + i x h2 (Kirsch and Mitzenmacher).
  const auto h1 = static_cast<std::uint32_t>(h);
  const auto h2 = static_cast<std::uint32_t>(h >> 32) | 1u;
  Cell* row[8];
  std::uint64_t min_p = UINT64_MAX, min_b = UINT64_MAX, prev_p = UINT64_MAX, prev_b = UINT64_MAX;
  std::uint32_t min_s = UINT32_MAX, prev_s = UINT32_MAX;
  for (std::size_t i = 0; i < config_.depth; ++i) {
    Cell& c = cells_[i * config_.width + ((h1 + static_cast<std::uint32_t>(i) * h2) & mask_)];
    row[i] = &c;
    min_p = std::min(min_p, c.packets);
    min_b = std::min(min_b, c.bytes);
    min_s = std::min(min_s, c.sources);
    prev_p = std::min(prev_p, c.prev_packets);
    prev_b = std::min(prev_b, c.prev_bytes);
    prev_s = std::min(prev_s, c.prev_sources);
  }
  // Conservative update: raise each counter only as far as the new minimum needs.
  const std::uint64_t new_p = min_p + packets < min_p ? UINT64_MAX : min_p + packets;
  const std::uint64_t new_b = min_b + bytes < min_b ? UINT64_MAX : min_b + bytes;
  const std::uint32_t new_s = new_pair && min_s != UINT32_MAX ? min_s + 1 : min_s;
  for (std::size_t i = 0; i < config_.depth; ++i) {
    Cell& c = *row[i];
    c.packets = std::max(c.packets, new_p);
    c.bytes = std::max(c.bytes, new_b);
    c.sources = std::max(c.sources, new_s);
  }
  // The previous epoch's share still inside the window.
  const double into = static_cast<double>(now_ns - epoch_start_) / static_cast<double>(window_ns_);
  const double keep = std::clamp(1.0 - into, 0.0, 1.0);
  const double window_s = config_.window_s;
  VolumeEstimate e;
  e.packets_per_second = (static_cast<double>(new_p) + keep * static_cast<double>(prev_p)) / window_s;
  e.bits_per_second = 8.0 * (static_cast<double>(new_b) + keep * static_cast<double>(prev_b)) / window_s;
  e.distinct_sources = static_cast<double>(new_s) + keep * static_cast<double>(prev_s);
  return e;
}

std::size_t VolumeSketch::memory_bytes() const noexcept {
  return cells_.capacity() * sizeof(Cell) + pairs_.capacity() * sizeof(PairWord);
}

}  // namespace overflowd::policy
