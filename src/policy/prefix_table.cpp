#include "policy/prefix_table.hpp"

#include <algorithm>
#include <array>
#include <map>

namespace overflowd::policy {

namespace {
PrefixTable::u128 to_u128(const core::IpAddress& a) noexcept {
  PrefixTable::u128 v = 0;
  for (std::uint8_t b : a.bytes()) v = (v << 8) | b;
  return v;
}

// Sweeps the intervals (inclusive bounds) into disjoint ranges [start, next start) with the union
// of the masks covering each. A range may have mask 0 (nothing covers it).
template <typename T, typename Interval>
void flatten(std::vector<Interval>& pending, std::vector<T>& starts, std::vector<std::uint64_t>& masks) {
  // Boundary events: at lo the mask is added, after hi it is removed. Counting per bit copes with
  // overlapping prefixes of the same set.
  std::map<T, std::vector<std::pair<std::uint64_t, int>>> events;
  for (const auto& iv : pending) {
    events[iv.lo].push_back({iv.mask, +1});
    if (iv.hi != static_cast<T>(~T{0}))  // else nothing follows: the range runs to the end
      events[static_cast<T>(iv.hi + 1)].push_back({iv.mask, -1});
  }
  starts.clear();
  masks.clear();
  starts.push_back(T{0});
  masks.push_back(0);
  std::array<int, PrefixTable::kMaxSets> count{};
  for (const auto& [at, changes] : events) {
    for (const auto& [mask, delta] : changes)
      for (unsigned b = 0; b < PrefixTable::kMaxSets; ++b)
        if (mask & (std::uint64_t{1} << b)) count[b] += delta;
    std::uint64_t m = 0;
    for (unsigned b = 0; b < PrefixTable::kMaxSets; ++b)
      if (count[b] > 0) m |= std::uint64_t{1} << b;
    if (at == starts.back()) masks.back() = m;
    else if (m != masks.back()) {
      starts.push_back(at);
      masks.push_back(m);
    }
  }
  // Merge neighbours that ended with the same mask (a start of 0 followed by the same mask).
  std::size_t w = 0;
  for (std::size_t r = 0; r < starts.size(); ++r) {
    if (w > 0 && masks[w - 1] == masks[r]) continue;
    starts[w] = starts[r];
    masks[w] = masks[r];
    ++w;
  }
  starts.resize(w);
  masks.resize(w);
  pending.clear();
  pending.shrink_to_fit();
}
}  // namespace

void PrefixTable::add(const guard::Cidr& cidr, unsigned set) {
  const std::uint64_t mask = std::uint64_t{1} << (set % kMaxSets);
  if (cidr.network.is_v4()) {
    pending4_.push_back({cidr.first().v4_host_order(), cidr.last().v4_host_order(), mask});
  } else if (cidr.network.is_v6()) {
    pending6_.push_back({to_u128(cidr.first()), to_u128(cidr.last()), mask});
  }
}

void PrefixTable::build() {
  flatten(pending4_, v4_starts_, v4_masks_);
  flatten(pending6_, v6_starts_, v6_masks_);
  // Entry k is the last range starting at or below k << 16: range r fills the entries from the
  // first /16 at or above its start to the first at or above the next range's start (filled range
  // by range, not probed /16 by /16: a table of few ranges is built in a few fills).
  v4_index_.assign(65537, 0);
  const auto first_at_or_above = [](std::uint32_t start) { return (std::uint64_t{start} + 0xffff) >> 16; };
  for (std::size_t r = 1; r < v4_starts_.size(); ++r) {
    const std::uint64_t to = r + 1 < v4_starts_.size() ? first_at_or_above(v4_starts_[r + 1]) : 65536;
    const auto from = static_cast<std::ptrdiff_t>(first_at_or_above(v4_starts_[r]));
    if (static_cast<std::uint64_t>(from) < to)
      std::fill(v4_index_.begin() + from, v4_index_.begin() + static_cast<std::ptrdiff_t>(to), static_cast<std::uint32_t>(r));
  }
  v4_index_[65536] = static_cast<std::uint32_t>(v4_starts_.size() - 1);
  // The palette of distinct masks, and the ranges as (start, palette index).
  v4_palette_ = v4_masks_;
  std::sort(v4_palette_.begin(), v4_palette_.end());
  v4_palette_.erase(std::unique(v4_palette_.begin(), v4_palette_.end()), v4_palette_.end());
  v4_ranges_.resize(v4_starts_.size());
  for (std::size_t i = 0; i < v4_starts_.size(); ++i)
    v4_ranges_[i] = {v4_starts_[i], static_cast<std::uint32_t>(std::lower_bound(v4_palette_.begin(), v4_palette_.end(),
                                                                                   v4_masks_[i]) -
                                                               v4_palette_.begin())};
  v4_starts_ = {};
  v4_masks_ = {};
}

std::uint64_t PrefixTable::lookup(const core::IpAddress& a) const noexcept {
  if (a.is_v4()) {
    if (v4_ranges_.empty()) return 0;
    const std::uint32_t x = a.v4_host_order();
    const std::uint32_t top = x >> 16;
    // The range holding x is between the one holding top<<16 and the one holding (top+1)<<16.
    const Range4* first = v4_ranges_.data() + v4_index_[top];
    const Range4* last = v4_ranges_.data() + v4_index_[top + 1];
    while (first < last) {  // the last range in [first, last] starting at or below x
      const Range4* mid = first + (last - first + 1) / 2;
      if (mid->start <= x) first = mid;
      else last = mid - 1;
    }
    return v4_palette_[first->mask];
  }
  if (a.is_v6()) {
    if (v6_starts_.empty()) return 0;
    const u128 x = to_u128(a);
    const auto it = std::upper_bound(v6_starts_.begin(), v6_starts_.end(), x);
    return v6_masks_[static_cast<std::size_t>(it - v6_starts_.begin()) - 1];
  }
  return 0;
}

std::size_t PrefixTable::memory_bytes() const noexcept {
  return v4_ranges_.capacity() * sizeof(Range4) + v4_palette_.capacity() * 8 + v4_index_.capacity() * 4 +
         v6_starts_.capacity() * 16 + v6_masks_.capacity() * 8;
}

}  // namespace overflowd::policy
