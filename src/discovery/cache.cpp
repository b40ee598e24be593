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
                       const std::optional<report::PublicKey>& pinned) {
  if (pinned) return *pinned == identity ? Trust::pinned : Trust::changed;
  if (const report::PublicKey* known = lru_.get(key)) return *known == identity ? Trust::seen : Trust::changed;
  lru_.put(key, identity);
  return Trust::first_use;
}

}  // namespace overflowd::discovery
