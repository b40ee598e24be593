// A bounded, recent window of the flows my own exporters saw from my prefixes, to tell a reported
// flow that really left my network from one that carries my address without having come from me
// (spoofing).
//
// Flows are kept as 64-bit hashes of their 5-tuple (source, destination, ports, protocol) with
// their end time in milliseconds, grouped in time buckets by that end time (the flows' own clock,
// so a capture from last year works the same as live exports). The oldest bucket goes when the
// window spans more than `buckets` buckets or holds more than `max_flows` flows. Buckets only
// serve eviction and the search: a verdict compares end times exactly. A reported flow is
//   seen     when a flow with its 5-tuple ended within [stime - tolerance, etime + tolerance]
//            (exact to the millisecond);
//   suspect  when not, and its end time lies within the time the window covers;
//   unknown  when the window does not cover its time (too old, too new, or no exports at all).
// A 64-bit hash collision could call a suspect seen; at a million flows the chance is ~1e-7.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/flow_record.hpp"

namespace overflowd::receive {

struct FlowTuple {
  core::IpAddress saddr, daddr;
  std::uint16_t sport = 0, dport = 0;
  std::uint8_t protocol = 0;
};

[[nodiscard]] std::uint64_t tuple_hash(const FlowTuple& t) noexcept;

struct SpoofWindowConfig {
  std::int64_t bucket_ms = 60'000;
  std::int64_t buckets = 60;  // window: 1 hour
  std::size_t max_flows = 1'000'000;
  std::int64_t tolerance_ms = 300'000;
};

// One flow of my own as the window keeps it (and the store persists it, so that a restart does
// not forget what my exporters saw).
struct OwnFlow {
  std::uint64_t hash = 0;
  std::int64_t etime_ms = 0;
};

enum class WindowVerdict : std::uint8_t { seen, not_seen, not_covered };

struct SpoofWindowStats {
  std::uint64_t added = 0;
  std::uint64_t too_old = 0;   // ended before the window's oldest bucket
  std::uint64_t evicted = 0;   // dropped with an old bucket
  std::size_t flows = 0;       // held now
  std::int64_t covers_from_ms = 0, covers_to_ms = 0;  // [from, to): empty when equal
};

class SpoofWindow {
public:
  explicit SpoofWindow(SpoofWindowConfig config = {}) : config_(config) {}

  void add(const FlowTuple& t, std::int64_t etime_ms);
  // A flow read back from the store at start: kept like add(), but not handed out again by
  // take_unsaved().
  void restore(const OwnFlow& f);
  // The flows added since the last call (at most max_flows, the newest), for the store to persist.
  [[nodiscard]] std::vector<OwnFlow> take_unsaved();
  [[nodiscard]] WindowVerdict check(const FlowTuple& t, std::int64_t stime_ms, std::int64_t etime_ms) const;
  [[nodiscard]] SpoofWindowStats stats() const;
  [[nodiscard]] const SpoofWindowConfig& config() const noexcept { return config_; }

private:
  bool insert_locked(const OwnFlow& f);
  void evict_locked();

  SpoofWindowConfig config_;
  mutable std::mutex mutex_;
  std::map<std::int64_t, std::unordered_multimap<std::uint64_t, std::int64_t>> buckets_;  // bucket -> hash -> etime_ms
  std::vector<OwnFlow> unsaved_;
  std::size_t flows_ = 0;
  SpoofWindowStats stats_;
};

}  // namespace overflowd::receive
