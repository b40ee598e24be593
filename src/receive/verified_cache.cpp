#include "receive/verified_cache.hpp"

#include <algorithm>
#include <bit>

namespace overflowd::receive {

VerifiedCache::VerifiedCache(std::size_t slots) : shards_(new Shard[kShards]) {
  sets_per_shard_ = std::bit_ceil(std::max<std::size_t>(slots / (kShards * kWays), 1));
  for (std::size_t i = 0; i < kShards; ++i) shards_[i].sets.resize(sets_per_shard_);
}

bool VerifiedCache::contains(const Digest& digest, const Signature& signature) const noexcept {
  const Shard& s = shards_[shard_of(digest)];
  bool hit = false;
  {
    std::lock_guard lock(s.m);
    for (const Entry& e : s.sets[set_of(digest)].ways) {
      if (e.used && e.digest == digest && e.signature == signature) {
        hit = true;
        break;
      }
    }
  }
  if (hit) hits_.fetch_add(1, std::memory_order_relaxed);
  return hit;
}

void VerifiedCache::insert(const Digest& digest, const Signature& signature) noexcept {
  Shard& s = shards_[shard_of(digest)];
  std::lock_guard lock(s.m);
  Set& set = s.sets[set_of(digest)];
  for (Entry& e : set.ways) {
    if (e.used && e.digest == digest && e.signature == signature) return;  // two threads checked it at once
  }
  Entry& e = set.ways[set.next];
  set.next = static_cast<std::uint8_t>((set.next + 1) % kWays);
  e.digest = digest;
  e.signature = signature;
  e.used = true;
}

}  // namespace overflowd::receive
