// A generator of synthetic NetFlow v5 captures: background traffic plus one flood, written as a
// classic pcap (Ethernet/IPv4/UDP). The demo of `make run` and many tests use it, so a fresh clone
// shows reports without any third-party capture.
//
// Addresses come only from ranges that are never routed: documentation (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24) and benchmarking (198.18.0.0/15), or, with `loopback`,
// 127.0.0.0/8, for delivery tests that must stay on this machine.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

namespace overflowd::io {

struct SynthConfig {
  std::string out;
  std::uint32_t background_flows = 3000;
  std::uint32_t flood_flows = 2000;
  std::uint32_t flood_packets = 5000;  // packets per flood flow (each flow is a spoofed source)
  std::uint64_t seed = 1;
  bool loopback = false;
  std::uint32_t start_unix = 1'700'000'000;
  std::uint16_t sampling_interval = 0;  // v5 header sampling interval (0: unsampled)
  // When not empty, every flow's source (destination) is drawn from these IPv4 addresses (host
  // order) instead, after the usual draws, so the rest of the capture is unchanged. Delivery tests
  // use them to aim flows at the few 127.x addresses they listen on. Only special-purpose
  // addresses are accepted (checked by the command line).
  std::vector<std::uint32_t> src_hosts;
  std::vector<std::uint32_t> dst_hosts;
};

struct SynthSummary {
  std::uint64_t datagrams = 0;
  std::uint64_t flows = 0;
  std::uint64_t packets = 0;  // sum of dPkts
  double expected_reports_at_default_rate = 0;
};

[[nodiscard]] std::expected<SynthSummary, std::string> write_synth_pcap(const SynthConfig& config);

}  // namespace overflowd::io
