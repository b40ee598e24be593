#include "receive/spoof_window.hpp"

#include <algorithm>

#include "core/enum_names.hpp"
#include "receive/item.hpp"
#include "receive/prefix.hpp"

namespace overflowd::receive {

const char* to_string(SpoofStatus s) noexcept {
  static constexpr const char* kNames[] = {"not_mine", "seen", "suspect", "unknown"};  // from -1
  static_assert(std::size(kNames) == static_cast<std::size_t>(SpoofStatus::unknown) + 2);
  return core::enum_name(s, kNames, static_cast<std::ptrdiff_t>(SpoofStatus::not_mine));
}

namespace {

// floor(a / b) for b > 0, also for negative a.
std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept { return a / b - ((a % b != 0) && (a < 0)); }

constexpr std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  // splitmix64 finalizer over an accumulated value.
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

}  // namespace

std::uint64_t tuple_hash(const FlowTuple& t) noexcept {
  std::uint64_t h = 0x6f766572666c6f77ULL;
  for (const auto* a : {&t.saddr, &t.daddr}) {
    const Key16 k = to_key16(*a);
    std::uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 8; ++i) hi = (hi << 8) | k[static_cast<std::size_t>(i)];
    for (int i = 8; i < 16; ++i) lo = (lo << 8) | k[static_cast<std::size_t>(i)];
    h = mix(mix(h, hi), lo);
  }
  return mix(h, (std::uint64_t{t.sport} << 24) | (std::uint64_t{t.dport} << 8) | t.protocol);
}

bool SpoofWindow::insert_locked(const OwnFlow& f) {
  const std::int64_t b = floor_div(f.etime_ms, config_.bucket_ms);
  if (!buckets_.empty() && b <= buckets_.rbegin()->first - config_.buckets) {
    ++stats_.too_old;
    return false;
  }
  auto& bucket = buckets_[b];
  const auto [from, to] = bucket.equal_range(f.hash);
  for (auto it = from; it != to; ++it)
    if (it->second == f.etime_ms) return false;
  bucket.emplace(f.hash, f.etime_ms);
  ++flows_;
  ++stats_.added;
  evict_locked();
  return true;
}

void SpoofWindow::add(const FlowTuple& t, std::int64_t etime_ms) {
  const OwnFlow f{tuple_hash(t), etime_ms};
  std::lock_guard lock(mutex_);
  if (!insert_locked(f)) return;
  unsaved_.push_back(f);
  // Bounded like the window: beyond max_flows unsaved, the older half goes (the window evicts those first).
  if (unsaved_.size() > 2 * config_.max_flows) unsaved_.erase(unsaved_.begin(), unsaved_.begin() + static_cast<std::ptrdiff_t>(config_.max_flows));
}

void SpoofWindow::restore(const OwnFlow& f) {
  std::lock_guard lock(mutex_);
  (void)insert_locked(f);
}

std::vector<OwnFlow> SpoofWindow::take_unsaved() {
  std::lock_guard lock(mutex_);
  std::vector<OwnFlow> out;
  out.swap(unsaved_);
  return out;
}

void SpoofWindow::evict_locked() {
  while (!buckets_.empty() &&
         (buckets_.begin()->first <= buckets_.rbegin()->first - config_.buckets ||
          (flows_ > config_.max_flows && buckets_.size() > 1))) {
    flows_ -= buckets_.begin()->second.size();
    stats_.evicted += buckets_.begin()->second.size();
    buckets_.erase(buckets_.begin());
  }
  // A single bucket over the cap: no bucket to drop, so stop growing it.
  if (flows_ > config_.max_flows && buckets_.size() == 1) {
    auto& only = buckets_.begin()->second;
    while (flows_ > config_.max_flows && !only.empty()) {
      only.erase(only.begin());
      --flows_;
      ++stats_.evicted;
    }
  }
}

WindowVerdict SpoofWindow::check(const FlowTuple& t, std::int64_t stime_ms, std::int64_t etime_ms) const {
  // Times come from reports, which anyone can sign: keep the arithmetic below far from overflow.
  constexpr std::int64_t kLimit = std::int64_t{1} << 52;
  stime_ms = std::clamp(stime_ms, -kLimit, kLimit);
  etime_ms = std::clamp(etime_ms, -kLimit, kLimit);
  if (etime_ms < stime_ms) std::swap(stime_ms, etime_ms);
  const std::uint64_t h = tuple_hash(t);
  const std::int64_t from_ms = stime_ms - config_.tolerance_ms, to_ms = etime_ms + config_.tolerance_ms;
  const std::int64_t lo = floor_div(from_ms, config_.bucket_ms);
  const std::int64_t hi = floor_div(to_ms, config_.bucket_ms);
  std::lock_guard lock(mutex_);
  if (buckets_.empty()) return WindowVerdict::not_covered;
  for (auto it = buckets_.lower_bound(lo); it != buckets_.end() && it->first <= hi; ++it) {
    const auto [first, last] = it->second.equal_range(h);
    for (auto f = first; f != last; ++f)
      if (f->second >= from_ms && f->second <= to_ms) return WindowVerdict::seen;
  }
  const std::int64_t e = floor_div(etime_ms, config_.bucket_ms);
  const std::int64_t first = buckets_.begin()->first, last = buckets_.rbegin()->first;
  return (e >= first && e <= last) ? WindowVerdict::not_seen : WindowVerdict::not_covered;
}

SpoofWindowStats SpoofWindow::stats() const {
  std::lock_guard lock(mutex_);
  SpoofWindowStats s = stats_;
  s.flows = flows_;
  if (!buckets_.empty()) {
    s.covers_from_ms = buckets_.begin()->first * config_.bucket_ms;
    s.covers_to_ms = (buckets_.rbegin()->first + 1) * config_.bucket_ms;
  }
  return s;
}

}  // namespace overflowd::receive
