// What the report benchmarks (report_bench, signing_bench, seal_bench) sign: one flow and one key,
// the same in each, so their figures compare.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/flow_record.hpp"
#include "report/keys.hpp"

namespace overflowd::bench {

// The first record of netflow_4M.pcap (as tshark shows it), normalized as the v5 decoder does.
inline core::FlowRecord sample_flow() {
  core::FlowRecord f;
  f.src = core::IpAddress::v4(0x7aa65a8f);       // 122.166.90.143
  f.dst = core::IpAddress::v4(0xbf640abb);       // 191.100.10.187
  f.nexthop = core::IpAddress::v4(0x6391048f);   // 99.145.4.143
  f.exporter = core::IpAddress::v4(0x7aa604f2);  // 122.166.4.242
  f.pcount = 6;
  f.bcount = 1244;
  f.stime_ms = 1185554890860;
  f.etime_ms = 1185554891116;
  f.input = 108;
  f.output = 120;
  f.sport = 2968;
  f.dport = 80;
  f.protocol = 6;
  f.src_mask = 19;
  f.source_version = 5;
  f.fields = core::kNetflowV5Fields;
  return f;
}

// A fixed signing key (seed 0, 1, ..., 31): the same reports in every run.
inline report::KeyPair fixed_keys() {
  report::Seed seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i);
  return report::keypair_from_seed(seed);
}

}  // namespace overflowd::bench
