// Fuzz target: the CAIDA AS-relationship parser (sim/topology.hpp), and valley-free routing over
// whatever topology it accepts (small limits, so one input stays fast).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "sim/routing.hpp"
#include "sim/topology.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  overflowd::sim::CaidaLimits limits;
  limits.max_links = 4096;
  limits.max_ases = 4096;
  overflowd::sim::CaidaCounts counts;
  auto t = overflowd::sim::parse_caida(std::as_bytes(std::span(data, size)), limits, &counts);
  if (!t) return 0;
  if (counts.links != t->link_count()) std::abort();
  const auto tree = overflowd::sim::route_to(*t, 0);
  for (std::uint32_t i = 0; i < t->size(); ++i) {
    const auto path = tree.path(i);
    // A path that exists ends at the destination and is never longer than the AS count.
    if (!path.empty() && (path.back() != 0 || path.size() > t->size())) std::abort();
  }
  return 0;
}
