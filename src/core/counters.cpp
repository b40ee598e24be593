#include "core/counters.hpp"

namespace overflowd::core {

std::uint64_t DecodeCounters::total_rejected() const noexcept {
  std::uint64_t n = 0;
  for (const auto& per : rejected)
    for (auto v : per) n += v;
  return n;
}

void DecodeCounters::merge(const DecodeCounters& o) noexcept {
  for (std::size_t p = 0; p < kProtocolCount; ++p) {
    datagrams[p] += o.datagrams[p];
    records[p] += o.records[p];
    skipped[p] += o.skipped[p];
    packets_estimated[p] += o.packets_estimated[p];
    no_counters[p] += o.no_counters[p];
    no_time[p] += o.no_time[p];
    for (std::size_t e = 0; e < kErrcCount; ++e) rejected[p][e] += o.rejected[p][e];
  }
  evicted_domains += o.evicted_domains;
  evicted_templates += o.evicted_templates;
}

void DecodeCounters::append_to(std::vector<NamedCount>& out) const {
  for (std::size_t p = 0; p < kProtocolCount; ++p) {
    const std::string prefix = to_string(static_cast<Protocol>(p));
    if (datagrams[p]) out.push_back({prefix + ".datagrams", datagrams[p]});
    if (records[p]) out.push_back({prefix + ".records", records[p]});
    if (skipped[p]) out.push_back({prefix + ".skipped", skipped[p]});
    if (packets_estimated[p]) out.push_back({prefix + ".packets_estimated", packets_estimated[p]});
    if (no_counters[p]) out.push_back({prefix + ".no_counters", no_counters[p]});
    if (no_time[p]) out.push_back({prefix + ".no_time", no_time[p]});
    for (std::size_t e = 0; e < kErrcCount; ++e)
      if (rejected[p][e])
        out.push_back({prefix + ".rejected." + std::string(to_string(static_cast<Errc>(e))), rejected[p][e]});
  }
  if (evicted_domains) out.push_back({"templates.evicted_domains", evicted_domains});
  if (evicted_templates) out.push_back({"templates.evicted_templates", evicted_templates});
}

std::string Error::describe() const {
  std::string s;
  if (version) s += "v" + std::to_string(version) + " ";
  if (domain) s += "domain " + std::to_string(domain) + " ";
  if (template_id) s += "template " + std::to_string(template_id) + " ";
  s += std::string(to_string(code));
  s += " at offset " + std::to_string(offset);
  return s;
}

}  // namespace overflowd::core
