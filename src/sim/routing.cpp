#include "sim/routing.hpp"

#include <algorithm>

namespace overflowd::sim {

std::vector<std::uint32_t> RoutingTree::path(std::uint32_t from) const {
  std::vector<std::uint32_t> out;
  if (from >= kind.size() || kind[from] == RouteKind::none) return out;
  for (std::uint32_t at = from;; at = next[at]) {
    out.push_back(at);
    if (at == destination || out.size() > kind.size()) break;
  }
  return out;
}

RoutingTree route_to(const Topology& t, std::uint32_t dest) {
  const auto n = static_cast<std::uint32_t>(t.size());
  RoutingTree r;
  r.destination = dest;
  r.next.assign(n, RoutingTree::kNone);
  r.length.assign(n, RoutingTree::kNone);
  r.kind.assign(n, RouteKind::none);
  if (dest >= n) return r;
  r.kind[dest] = RouteKind::self;
  r.length[dest] = 0;

  // 1. Customer routes: breadth-first up the provider links, level by level; within a level the
  //    lowest next hop wins (lists are sorted, the frontier is kept sorted).
  std::vector<std::uint32_t> frontier{dest}, found;
  std::vector<std::uint32_t> have_customer{dest};
  for (std::uint32_t level = 1; !frontier.empty(); ++level) {
    found.clear();
    for (const std::uint32_t u : frontier) {
      for (const std::uint32_t p : t.providers(u)) {
        if (r.kind[p] == RouteKind::none) {
          r.kind[p] = RouteKind::customer;
          r.length[p] = level;
          r.next[p] = u;
          found.push_back(p);
        } else if (r.kind[p] == RouteKind::customer && r.length[p] == level && u < r.next[p]) {
          r.next[p] = u;
        }
      }
    }
    std::sort(found.begin(), found.end());
    have_customer.insert(have_customer.end(), found.begin(), found.end());
    frontier.swap(found);
  }

  // 2. Peer routes: one peer hop from an AS with its own or a customer route.
  for (const std::uint32_t u : have_customer) {
    for (const std::uint32_t p : t.peers(u)) {
      if (r.kind[p] == RouteKind::self || r.kind[p] == RouteKind::customer) continue;
      const std::uint32_t len = r.length[u] + 1;
      if (r.kind[p] == RouteKind::none || len < r.length[p] || (len == r.length[p] && u < r.next[p])) {
        r.kind[p] = RouteKind::peer;
        r.length[p] = len;
        r.next[p] = u;
      }
    }
  }

  // 3. Provider routes: every AS with a route exports it to its customers; shortest first (a bucket
  //    queue by length), ties to the lowest next hop.
  std::vector<std::vector<std::uint32_t>> bucket;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (r.kind[i] == RouteKind::none) continue;
    if (bucket.size() <= r.length[i]) bucket.resize(r.length[i] + 1);
    bucket[r.length[i]].push_back(i);
  }
  for (std::size_t len = 0; len < bucket.size(); ++len) {
    std::sort(bucket[len].begin(), bucket[len].end());
    for (std::size_t k = 0; k < bucket[len].size(); ++k) {
      const std::uint32_t u = bucket[len][k];
      if (r.length[u] != len) continue;  // a stale entry
      for (const std::uint32_t c : t.customers(u)) {
        const RouteKind ck = r.kind[c];
        if (ck == RouteKind::self || ck == RouteKind::customer || ck == RouteKind::peer) continue;
        const auto l = static_cast<std::uint32_t>(len + 1);
        if (ck == RouteKind::none || l < r.length[c] || (l == r.length[c] && u < r.next[c])) {
          const bool fresh = ck == RouteKind::none || l < r.length[c];
          r.kind[c] = RouteKind::provider;
          r.length[c] = l;
          r.next[c] = u;
          if (fresh) {
            if (bucket.size() <= l) bucket.resize(l + 1);
            bucket[l].push_back(c);
          }
        }
      }
    }
  }
  return r;
}

}  // namespace overflowd::sim
