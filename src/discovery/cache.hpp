// Discovery's memory, bounded (docs/manual.md, "Discovery"). Pure: no I/O, no clock of its own
// (the caller passes Unix seconds, so tests drive time).
//
// - `KeyCache`: what a lookup found for a key (the /24 or /48 zone for DNS, the address for
//   HTTP(S)): a key (positive, until the document's `expires`, at most a day), nothing (negative,
//   an hour), or a lookup in flight (pending, until it ends or kPendingSeconds pass). At most
//   `capacity` entries; the least recently used goes first.
// - `TofuTable`: trust on first use: the identity first seen for a key; a document signed by
//   another identity for that key is refused (identity_changed) unless that identity is pinned.
//   Bounded the same way (an evicted key is trusted afresh: the bound is in the manual). Its
//   entries (with first and last seen) go to and come from --discovery-trust (trust_file.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ip_address.hpp"
#include "guard/cidr.hpp"
#include "report/keys.hpp"
#include "report/seal.hpp"
#include "discovery/trust_file.hpp"

namespace overflowd::discovery {

inline constexpr std::int64_t kMaxPositiveSeconds = 86'400;
inline constexpr std::int64_t kNegativeSeconds = 3'600;
inline constexpr std::int64_t kPendingSeconds = 60;
inline constexpr std::size_t kMaxPrefixesKept = 64;

// A bounded map with least-recently-used eviction.
template <class V>
class Lru {
public:
  explicit Lru(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}
  // The value, made most recently used; null when absent.
  V* get(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }
  // Inserts or replaces; evicts the least recently used when full.
  V& put(const std::string& key, V value) {
    if (V* v = get(key)) return *v = std::move(value);
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
      ++evicted_;
    }
    order_.emplace_front(key, std::move(value));
    index_.emplace(key, order_.begin());
    return order_.front().second;
  }
  void erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }
  [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint64_t evicted() const noexcept { return evicted_; }
  // Calls f(key, value) from the most to the least recently used.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [k, v] : order_) f(k, v);
  }

private:
  std::size_t capacity_;
  std::list<std::pair<std::string, V>> order_;
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
  std::uint64_t evicted_ = 0;
};

struct Found {
  report::X25519Public x25519{};
  report::PublicKey identity{};
  std::vector<guard::Cidr> prefixes;  // what the document speaks for (at most kMaxPrefixesKept)
  std::int64_t expires = 0;           // Unix s: the document's
  // Whether the document speaks for `address`.
  [[nodiscard]] bool covers(const core::IpAddress& address) const noexcept;
};

struct CacheEntry {
  enum class State : std::uint8_t { pending, positive, negative } state = State::pending;
  std::int64_t until = 0;  // Unix s
  Found found;             // positive only
};

class KeyCache {
public:
  explicit KeyCache(std::size_t capacity) : lru_(capacity) {}
  // The live entry for `key` at `now_s` (an entry past its time is dropped: null).
  [[nodiscard]] const CacheEntry* find(const std::string& key, std::int64_t now_s);
  void put_pending(const std::string& key, std::int64_t now_s);
  // Positive until the document's expiry, at most a day from now.
  void put_positive(const std::string& key, Found found, std::int64_t now_s);
  void put_negative(const std::string& key, std::int64_t now_s);
  [[nodiscard]] std::size_t size() const noexcept { return lru_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return lru_.capacity(); }
  [[nodiscard]] std::uint64_t evicted() const noexcept { return lru_.evicted(); }

private:
  Lru<CacheEntry> lru_;
};

enum class Trust : std::uint8_t { first_use, seen, pinned, changed };
[[nodiscard]] const char* to_string(Trust t) noexcept;

class TofuTable {
public:
  explicit TofuTable(std::size_t capacity) : lru_(capacity) {}
  // Judges `identity` for `key` at `now_s`: a pinned identity decides alone (pinned or changed);
  // otherwise the first identity seen is remembered (first_use) and later ones must equal it (seen,
  // last seen moved to now, or changed). A changed identity is not remembered: the first one stays.
  Trust judge(const std::string& key, const report::PublicKey& identity,
              const std::optional<report::PublicKey>& pinned = std::nullopt, std::int64_t now_s = 0);
  [[nodiscard]] std::size_t size() const noexcept { return lru_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return lru_.capacity(); }
  // The table, most recently used first (for the trust file).
  [[nodiscard]] std::vector<TrustEntry> entries() const;
  // Puts `entries` (most recently used first, as entries() gives them) in; beyond the capacity the
  // least recently used are left out. Returns how many were put.
  std::size_t load(std::span<const TrustEntry> entries);
  // Whether the table changed since the last take_dirty() (a new identity, or a last seen moved).
  [[nodiscard]] bool dirty() const noexcept { return dirty_; }
  [[nodiscard]] bool learned() const noexcept { return learned_; }  // a new identity since take_dirty()
  void take_dirty() noexcept { dirty_ = learned_ = false; }
  void mark_dirty() noexcept { dirty_ = true; }  // a write failed: try again later

private:
  struct Known {
    report::PublicKey identity{};
    std::int64_t first_seen = 0, last_seen = 0;
  };
  Lru<Known> lru_;
  bool dirty_ = false, learned_ = false;
};

}  // namespace overflowd::discovery
