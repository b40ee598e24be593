// Which of up to 64 prefix sets hold an address, in one lookup: every set's prefixes are flattened
// into disjoint address ranges, each labelled with the bit mask of the sets covering it. IPv4: a
// 65,536-entry index on the top 16 bits narrows the binary search to the ranges of one /16, so a
// lookup over 100,000 prefixes is a handful of comparisons, over ranges stored as (start, palette
// index) pairs: about two cache lines a lookup (the index, the ranges). IPv6: a binary search over
// the ranges.
// Built once (policy load); lookups are const and allocate nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ip_address.hpp"
#include "guard/cidr.hpp"

namespace overflowd::policy {

class PrefixTable {
public:
  static constexpr unsigned kMaxSets = 64;

  // Adds `cidr` to set `set` (< kMaxSets). Call build() after the last add.
  void add(const guard::Cidr& cidr, unsigned set);
  void build();

  // The sets holding `address` (bit i: set i); 0 for none or an empty address.
  [[nodiscard]] std::uint64_t lookup(const core::IpAddress& address) const noexcept;

  [[nodiscard]] std::size_t ranges() const noexcept { return v4_ranges_.size() + v6_starts_.size(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept;

  __extension__ using u128 = unsigned __int128;

private:
  struct Interval4 {
    std::uint32_t lo, hi;
    std::uint64_t mask;
  };
  struct Interval6 {
    u128 lo, hi;
    std::uint64_t mask;
  };
  std::vector<Interval4> pending4_;
  std::vector<Interval6> pending6_;
  // Disjoint ranges, sorted: range i covers [starts[i], starts[i+1]) with masks[i].
  std::vector<std::uint32_t> v4_starts_;
  std::vector<std::uint64_t> v4_masks_;
  // The lookup's form of the IPv4 ranges: start and the index of its mask in a palette of the
  // distinct masks (a few hundred at most in practice, so it stays in the cache), side by side, so
  // that the search and the answer share cache lines.
  struct Range4 {
    std::uint32_t start;
    std::uint32_t mask;  // index into v4_palette_
  };
  std::vector<Range4> v4_ranges_;
  std::vector<std::uint64_t> v4_palette_;
  std::vector<std::uint32_t> v4_index_;  // 65,537 entries: the range holding (k << 16) for each k
  std::vector<u128> v6_starts_;
  std::vector<std::uint64_t> v6_masks_;
};

}  // namespace overflowd::policy
