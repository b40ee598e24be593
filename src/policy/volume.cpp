#include "policy/volume.hpp"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/sodium.hpp"

namespace overflowd::policy {

namespace {
std::size_t pow2(std::size_t n, std::size_t min) { return std::bit_ceil(std::max(n, min)); }

std::uint64_t keyed_hash(const std::array<unsigned char, 16>& key, const unsigned char* data, std::size_t n) noexcept {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, data, n, key.data());
  std::uint64_t h = 0;
  std::memcpy(&h, out, sizeof h);
  return h;
}
}  // namespace

VolumeSketch::VolumeSketch(const VolumeConfig& config) : config_(config) {
  core::init_sodium();
  randombytes_buf(key_.data(), key_.size());
  config_.width = pow2(config_.width, 64);
  config_.depth = std::clamp<std::size_t>(config_.depth, 1, 8);
  config_.pair_bits = pow2(config_.pair_bits, 4096);
  mask_ = config_.width - 1;
  pair_mask_ = config_.pair_bits - 1;
  window_ns_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(config_.window_s * 1e9));
  for (Epoch* e : {&current_, &previous_}) {
    e->packets.assign(config_.width * config_.depth, 0);
    e->bytes.assign(config_.width * config_.depth, 0);
    e->sources.assign(config_.width * config_.depth, 0);
    e->pairs.assign(config_.pair_bits / 64, 0);
  }
}

void VolumeSketch::clear(Epoch& e) noexcept {
  std::fill(e.packets.begin(), e.packets.end(), 0);
  std::fill(e.bytes.begin(), e.bytes.end(), 0);
  std::fill(e.sources.begin(), e.sources.end(), 0);
  std::fill(e.pairs.begin(), e.pairs.end(), 0);
}

void VolumeSketch::advance(std::int64_t now_ns) noexcept {
  if (!started_) {
    started_ = true;
    epoch_start_ = now_ns;
    return;
  }
  if (now_ns < epoch_start_ + window_ns_) return;
  if (now_ns >= epoch_start_ + 2 * window_ns_) {
    clear(previous_);
    clear(current_);
    epoch_start_ = now_ns;
    return;
  }
  std::swap(previous_, current_);
  clear(current_);
  epoch_start_ += window_ns_;
}

VolumeEstimate VolumeSketch::add(const core::IpAddress& src, const core::IpAddress& dst, std::uint64_t packets,
                                 std::uint64_t bytes, std::int64_t now_ns) noexcept {
  advance(now_ns);
  unsigned char buf[34];
  buf[0] = static_cast<unsigned char>(dst.family());
  std::memcpy(buf + 1, dst.bytes().data(), 16);
  const std::uint64_t h = keyed_hash(key_, buf, 17);
  buf[17] = static_cast<unsigned char>(src.family());
  std::memcpy(buf + 18, src.bytes().data(), 16);
  const std::uint64_t pair = keyed_hash(key_, buf, 34);
  const bool new_pair = [&] {
    const std::size_t bit = static_cast<std::size_t>(pair) & pair_mask_;
    const std::uint64_t m = std::uint64_t{1} << (bit % 64);
    const bool seen = (current_.pairs[bit / 64] & m) || (previous_.pairs[bit / 64] & m);
    current_.pairs[bit / 64] |= m;
    return !seen;
  }();

  // Double hashing: row i uses h1 + i x h2 (Kirsch and Mitzenmacher).
  const auto h1 = static_cast<std::uint32_t>(h);
  const auto h2 = static_cast<std::uint32_t>(h >> 32) | 1u;
  std::size_t cells[8];
  std::uint64_t min_p = UINT64_MAX, min_b = UINT64_MAX, prev_p = UINT64_MAX, prev_b = UINT64_MAX;
  std::uint32_t min_s = UINT32_MAX, prev_s = UINT32_MAX;
  for (std::size_t i = 0; i < config_.depth; ++i) {
    cells[i] = i * config_.width + ((h1 + static_cast<std::uint32_t>(i) * h2) & mask_);
    min_p = std::min(min_p, current_.packets[cells[i]]);
    min_b = std::min(min_b, current_.bytes[cells[i]]);
    min_s = std::min(min_s, current_.sources[cells[i]]);
    prev_p = std::min(prev_p, previous_.packets[cells[i]]);
    prev_b = std::min(prev_b, previous_.bytes[cells[i]]);
    prev_s = std::min(prev_s, previous_.sources[cells[i]]);
  }
  // Conservative update: raise each counter only as far as the new minimum needs.
  const std::uint64_t new_p = min_p + packets < min_p ? UINT64_MAX : min_p + packets;
  const std::uint64_t new_b = min_b + bytes < min_b ? UINT64_MAX : min_b + bytes;
  const std::uint32_t new_s = new_pair && min_s != UINT32_MAX ? min_s + 1 : min_s;
  for (std::size_t i = 0; i < config_.depth; ++i) {
    current_.packets[cells[i]] = std::max(current_.packets[cells[i]], new_p);
    current_.bytes[cells[i]] = std::max(current_.bytes[cells[i]], new_b);
    current_.sources[cells[i]] = std::max(current_.sources[cells[i]], new_s);
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
  std::size_t n = 0;
  for (const Epoch* e : {&current_, &previous_})
    n += e->packets.capacity() * 8 + e->bytes.capacity() * 8 + e->sources.capacity() * 4 + e->pairs.capacity() * 8;
  return n;
}

}  // namespace overflowd::policy
