#include "discovery/cache.hpp"

#include <algorithm>

namespace overflowd::discovery {

bool Found::covers(const core::IpAddress& address) const noexcept {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const guard::Cidr& c) { return c.contains(address); });
}

const CacheEntry* KeyCache::find(const std::string& key, std::int64_t now_s) {
  CacheEntry* e = lru_.get(key);
  if (!e) return nullptr;
  if (now_s >= e->until) {
    lru_.erase(key);
    return nullptr;
  }
  return e;
}

void KeyCache::put_pending(const std::string& key, std::int64_t now_s) {
  lru_.put(key, CacheEntry{CacheEntry::State::pending, now_s + kPendingSeconds, {}});
}

void KeyCache::put_positive(const std::string& key, Found found, std::int64_t now_s) {
  const std::int64_t until = std::min(found.expires, now_s + kMaxPositiveSeconds);
  if (until <= now_s) return put_negative(key, now_s);
  lru_.put(key, CacheEntry{CacheEntry::State::positive, until, std::move(found)});
}

void KeyCache::put_negative(const std::string& key, std::int64_t now_s) {
  lru_.put(key, CacheEntry{CacheEntry::State::negative, now_s + kNegativeSeconds, {}});
}

const char* to_string(Trust t) noexcept {
  switch (t) {
    case Trust::first_use: return "first_use";
    case Trust::seen: return "seen";
    case Trust::pinned: return "pinned";
    case Trust::changed: return "changed";
  }
  return "unknown";
}

Trust TofuTable::judge(const std::string& key, const report::PublicKey& identity,
                       const std::optional<report::PublicKey>& pinned, std::int64_t now_s) {
  if (pinned) return *pinned == identity ? Trust::pinned : Trust::changed;
  if (Known* known = lru_.get(key)) {
    if (known->identity != identity) return Trust::changed;
    if (now_s > known->last_seen) {
      known->last_seen = now_s;
      dirty_ = true;
    }
    return Trust::seen;
  }
  lru_.put(key, Known{identity, now_s, now_s});
  dirty_ = learned_ = true;
  return Trust::first_use;
}

std::vector<TrustEntry> TofuTable::entries() const {
  std::vector<TrustEntry> out;
  out.reserve(lru_.size());
  lru_.for_each([&](const std::string& k, const Known& v) { out.push_back({k, v.identity, v.first_seen, v.last_seen}); });
  return out;
}

std::size_t TofuTable::load(std::span<const TrustEntry> entries) {
  const std::size_t n = std::min(entries.size(), lru_.capacity());
  // Least recently used first, so that the most recent ends up most recent.
  for (std::size_t i = n; i-- > 0;)
    lru_.put(entries[i].prefix, Known{entries[i].identity, entries[i].first_seen, entries[i].last_seen});
  return n;
}

}  // namespace overflowd::discovery
