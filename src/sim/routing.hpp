// Valley-free (Gao-Rexford) routes toward one destination AS, for every AS at once.
//
// Each AS prefers a route learned from a customer over one from a peer over one from a provider,
// then the shortest AS path, then the lowest next-hop ASN. It exports customer routes (and its
// own prefix) to everyone, peer and provider routes to its customers only. So a path climbs
// customer->provider links, crosses at most one peer link, then descends provider->customer links.
// Computed in three passes (customer routes up from the destination, one peer hop, provider routes
// down in order of length), O(links).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "sim/topology.hpp"

namespace overflowd::sim {

enum class RouteKind : std::uint8_t { none, self, customer, peer, provider };

struct RoutingTree {
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t destination = kNone;
  std::vector<std::uint32_t> next;     // next-hop AS index (kNone: no route, or the destination)
  std::vector<std::uint32_t> length;   // AS hops to the destination
  std::vector<RouteKind> kind;

  // The AS indices from `from` to the destination, both included; empty when `from` has no route.
  [[nodiscard]] std::vector<std::uint32_t> path(std::uint32_t from) const;
};

[[nodiscard]] RoutingTree route_to(const Topology& topology, std::uint32_t destination);

}  // namespace overflowd::sim
